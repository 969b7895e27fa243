"""JobConfig.spriteSheets[]: JPEG sprite sheets of thumbnails (validation; ffmpeg plan: ../ffmpeg_plan.py)."""

from __future__ import annotations

from ..errors import invalid
from .common import FILE_NAME_RE, format_duration, parse_duration, positive_int


def sprite_sheets(sprites: list, path: str) -> list[dict]:
    out = []
    prefixes: set[str] = set()
    for i, sprite in enumerate(sprites):
        field = f"{path}.spriteSheets[{i}]"
        if not isinstance(sprite, dict):
            raise invalid(f"{field} must be a SpriteSheet object")
        s = dict(sprite)
        prefix = s.get("filePrefix") or ""
        if not prefix:
            raise invalid(f"{field}.filePrefix is required")
        if not FILE_NAME_RE.match(prefix):
            raise invalid(f"{field}.filePrefix '{prefix}' may only contain letters, digits, '.', '_' and '-'")
        if prefix in prefixes:
            raise invalid(f"{field}.filePrefix: duplicate sprite sheet prefix '{prefix}'")
        prefixes.add(prefix)
        s.setdefault("format", "jpeg")
        if s["format"] != "jpeg":
            raise invalid(f"{field}.format: unsupported sprite sheet format '{s['format']}'; supported: jpeg")
        if not s.get("spriteWidthPixels") and not s.get("spriteHeightPixels"):
            raise invalid(f"{field}.spriteWidthPixels or {field}.spriteHeightPixels is required")
        for dim in ("spriteWidthPixels", "spriteHeightPixels"):
            if s.get(dim):
                s[dim] = positive_int(s[dim], f"{field}.{dim}", low=2, high=8192)
                if s[dim] % 2:
                    raise invalid(f"{field}.{dim} must be an even integer, got {s[dim]}")
            else:
                s.pop(dim, None)
        for count in ("columnCount", "rowCount"):
            s[count] = positive_int(s.get(count) or 0, f"{field}.{count}", low=0, high=10000)
            if not s[count]:
                s.pop(count)
        if s.get("interval") is not None and s.get("totalCount"):
            raise invalid(f"{field}: only one of totalCount and interval may be set")
        if s.get("interval") is not None:
            interval = parse_duration(s["interval"], f"{field}.interval")
            if interval <= 0:
                raise invalid(f"{field}.interval must be greater than 0")
            s["interval"] = format_duration(interval)
        else:
            s["totalCount"] = positive_int(s.get("totalCount") or 100, f"{field}.totalCount", low=1, high=100000)
        s["quality"] = positive_int(s.get("quality") or 100, f"{field}.quality", low=1, high=100)
        start = parse_duration(s.get("startTimeOffset", "0s"), f"{field}.startTimeOffset")
        if start < 0:
            raise invalid(f"{field}.startTimeOffset must not be negative")
        s["startTimeOffset"] = format_duration(start)
        if s.get("endTimeOffset") is not None:
            end = parse_duration(s["endTimeOffset"], f"{field}.endTimeOffset")
            if end <= start:
                raise invalid(f"{field}.endTimeOffset must be greater than startTimeOffset")
            s["endTimeOffset"] = format_duration(end)
        out.append(s)
    return out

