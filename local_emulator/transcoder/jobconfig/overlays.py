"""JobConfig.overlays[]: image overlays (PNG with or without alpha, JPEG) drawn on every output video, validated with
the reference's defaults and ranges; ``overlay_timeline`` turns an overlay's animations into what the filter graph
draws (ffmpeg_plan.py).

    image      {uri (required, gs://; PNG or JPEG, checked on the bytes when the job runs), resolution {x, y} in
                [0, 1] of the output video (0,0: the image's own size; one of them 0: keep its aspect), alpha in
                (0, 1] (0 = unset = 1, solid)}
    animations [{animationStatic {xy, startTimeOffset}} | {animationFade {fadeType FADE_IN | FADE_OUT (required),
                xy, startTimeOffset, endTimeOffset (default start + 1s)}} | {animationEnd {startTimeOffset}}],
                chronological, without overlap.

The list is in descending Z-order: the first overlay is drawn on top. Before its first animation an overlay is not
shown, except when that animation is a FADE_OUT (it fades out from full view); an overlay keeps the state of its last
animation until an animationEnd or the end of the video. An overlay with no animations is shown from 0s at {0, 0}
(AnimationStatic's defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import invalid
from .common import GCS_OBJECT_RE, format_duration, number_in_range, parse_duration

FADE_TYPES = ("FADE_TYPE_UNSPECIFIED", "FADE_IN", "FADE_OUT")
_KINDS = ("animationStatic", "animationFade", "animationEnd")


def _fraction(value: Any, field: str) -> float:
    return 0.0 if value is None else number_in_range(value, field, 0.0, 1.0)


def _coordinate(value: Any, field: str) -> dict:
    value = value or {}
    if not isinstance(value, dict):
        raise invalid(f"{field} must be a NormalizedCoordinate object")
    return {"x": _fraction(value.get("x"), f"{field}.x"), "y": _fraction(value.get("y"), f"{field}.y")}


def _offset(value: Any, field: str) -> float:
    seconds = parse_duration(value if value is not None else "0s", field)
    if seconds < 0:
        raise invalid(f"{field} must not be negative")
    return seconds


def _fade_type(value: Any, field: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(FADE_TYPES):
        value = FADE_TYPES[value]
    if value in (None, "", "FADE_TYPE_UNSPECIFIED"):
        raise invalid(f"{field} is required: FADE_IN or FADE_OUT")
    if value not in FADE_TYPES:
        raise invalid(f"Invalid value at '{field}' (FadeType): {value!r}; expected FADE_IN or FADE_OUT")
    return value


def overlays(items: Any, path: str) -> list[dict]:
    if not items:
        return []
    if not isinstance(items, list):
        raise invalid(f"{path}.overlays must be a list")
    out = []
    for i, item in enumerate(items):
        field = f"{path}.overlays[{i}]"
        if not isinstance(item, dict):
            raise invalid(f"{field} must be an Overlay object")
        image = item.get("image")
        if not isinstance(image, dict):
            raise invalid(f"{field}.image is required: an Image with a uri")
        uri = image.get("uri") or ""
        if not uri:
            raise invalid(f"{field}.image.uri is required")
        if not GCS_OBJECT_RE.match(uri):
            raise invalid(f"{field}.image.uri: '{uri}' is not a Cloud Storage object URI of the form "
                          "gs://bucket/object")
        alpha = image.get("alpha") or 0
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise invalid(f"Invalid value at '{field}.image.alpha': expected a number")
        if not 0 <= alpha <= 1:
            raise invalid(f"{field}.image.alpha must be greater than 0 and at most 1 (solid), got {alpha:g}")
        entry = {"image": {"uri": uri, "resolution": _coordinate(image.get("resolution"), f"{field}.image.resolution"),
                           "alpha": float(alpha) or 1.0}}
        animations = item.get("animations") or []
        if not isinstance(animations, list):
            raise invalid(f"{field}.animations must be a list")
        normalised = []
        busy_until, busy_field = 0.0, ""
        for j, animation in enumerate(animations):
            where = f"{field}.animations[{j}]"
            if not isinstance(animation, dict):
                raise invalid(f"{where} must be an Animation object")
            kinds = [k for k in _KINDS if animation.get(k) is not None]
            if len(kinds) != 1:
                raise invalid(f"{where}: exactly one of animationStatic, animationFade or animationEnd must be set")
            kind = kinds[0]
            body = animation[kind]
            if not isinstance(body, dict):
                raise invalid(f"{where}.{kind} must be an object")
            where = f"{where}.{kind}"
            start = _offset(body.get("startTimeOffset"), f"{where}.startTimeOffset")
            if start + 1e-9 < busy_until:
                raise invalid(f"{where}.startTimeOffset ({format_duration(start)}) overlaps {busy_field} (until "
                              f"{format_duration(busy_until)}): animations must be chronological, without overlap")
            norm: dict[str, Any] = {"startTimeOffset": format_duration(start)}
            busy_until, busy_field = start, where
            if kind != "animationEnd":
                norm["xy"] = _coordinate(body.get("xy"), f"{where}.xy")
            if kind == "animationFade":
                norm = {"fadeType": _fade_type(body.get("fadeType"), f"{where}.fadeType"), **norm}
                end = (_offset(body["endTimeOffset"], f"{where}.endTimeOffset")
                       if body.get("endTimeOffset") is not None else start + 1.0)
                if end <= start:
                    raise invalid(f"{where}.endTimeOffset must be greater than startTimeOffset")
                norm["endTimeOffset"] = format_duration(end)
                busy_until = end
            normalised.append({kind: norm})
        entry["animations"] = normalised
        out.append(entry)
    return out


@dataclass(frozen=True)
class Phase:
    """From ``start`` until the next phase: drawn at ``xy`` (fractions) with opacity ramping from ``alpha0`` at
    ``start`` to ``alpha1`` at ``ramp_end`` (then held)."""
    start: float
    x: float
    y: float
    alpha0: float
    alpha1: float
    ramp_end: float


def overlay_timeline(overlay: dict) -> list[Phase]:
    """The phases of a normalised overlay, in time order; opacity 0 before the first one."""
    animations = overlay.get("animations") or [{"animationStatic": {"xy": {"x": 0.0, "y": 0.0},
                                                                     "startTimeOffset": "0s"}}]
    phases: list[Phase] = []
    x = y = 0.0
    for n, animation in enumerate(animations):
        kind, body = next(iter(animation.items()))
        start = parse_duration(body["startTimeOffset"], "startTimeOffset")
        if "xy" in body:
            x, y = body["xy"]["x"], body["xy"]["y"]
        if kind == "animationStatic":
            phases.append(Phase(start, x, y, 1.0, 1.0, start))
        elif kind == "animationEnd":
            phases.append(Phase(start, x, y, 0.0, 0.0, start))
        else:
            end = parse_duration(body["endTimeOffset"], "endTimeOffset")
            fade_in = body["fadeType"] == "FADE_IN"
            if n == 0 and not fade_in and start > 0:  # a first fade-out starts from full view
                phases.append(Phase(0.0, x, y, 1.0, 1.0, 0.0))
            phases.append(Phase(start, x, y, 0.0 if fade_in else 1.0, 1.0 if fade_in else 0.0, end))
    return phases
