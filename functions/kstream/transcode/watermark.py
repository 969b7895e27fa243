"""The site watermark: an optional logo in a corner of every rendition, drawn by the Transcoder itself as a JobConfig
``overlays[]`` entry (the API draws one overlay on every output video, so every rung and the progressive MP4 carry
it). Off by default (``KSTREAM_WATERMARK_LOGO`` empty).

    job_overlays(source) -> {"overlays": [...]} | {}      what ladder.build_job_config adds to the config
    overlay_for(logo, video_width, video_height, corner=..., opacity=..., width=...) -> Overlay (REST JSON)

Opacity is the overlay image's ``alpha`` (``Overlay.Image.alpha`` of the v1 reference: 1 solid, more than 0), so the
PNG is used as it is. The logo is a PNG given as ``gs://bucket/object`` (read as it is: its size from the first
bytes) or as a file path (the function copies it once into the media bucket as ``branding/watermark-<sha256>.png``,
content-addressed, so every job of every instance names the same object; how ``make dev`` shows it with the bundled
``assets/watermark.png``). Its width is ``KSTREAM_WATERMARK_WIDTH`` of the video's width, its height follows its
aspect; it sits a margin of 3% of the width from the two edges of ``KSTREAM_WATERMARK_CORNER``.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kstream.errors import ConfigurationError
from kstream.settings import Settings, env_variable, get_settings
from kstream.transcode.media_probe import SourceInfo

MARGIN = 0.03  # of the video width, from each edge of the corner
BRANDING_PREFIX = "branding/"
BUNDLED_LOGO = Path(__file__).parent / "assets" / "watermark.png"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Logo:
    uri: str  # gs://bucket/object the Transcoder reads
    width: int
    height: int


def png_size(head: bytes, where: str) -> tuple[int, int]:
    """Width and height from a PNG's signature and IHDR chunk (its first 24 bytes)."""
    if len(head) < 24 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        raise ConfigurationError(f"{env_variable('watermark_logo')}: {where} is not a PNG image")
    width, height = struct.unpack(">II", head[16:24])
    if not width or not height:
        raise ConfigurationError(f"{env_variable('watermark_logo')}: {where} has an empty size")
    return width, height


def overlay_for(logo: Logo, video_width: int, video_height: int, *, corner: str = "bottom-right",
                opacity: float = 0.8, width: float = 0.12) -> dict[str, Any]:
    """The Overlay (REST JSON) drawing ``logo`` ``width`` of the video wide in ``corner`` from 0s to the end."""
    aspect = video_width / video_height
    logo_w = width
    logo_h = min(1.0, width * aspect * logo.height / logo.width)
    margin_x, margin_y = MARGIN, min(MARGIN * aspect, max(0.0, (1 - logo_h) / 2))
    x = margin_x if corner.endswith("left") else max(0.0, 1 - margin_x - logo_w)
    y = margin_y if corner.startswith("top") else max(0.0, 1 - margin_y - logo_h)
    return {
        "image": {"uri": logo.uri, "resolution": {"x": round(logo_w, 4), "y": 0}, "alpha": opacity},
        "animations": [{"animationStatic": {"xy": {"x": round(x, 4), "y": round(y, 4)}, "startTimeOffset": "0s"}}],
    }


def job_overlays(source: SourceInfo, settings: Settings | None = None) -> dict[str, Any]:
    """``{"overlays": [the watermark]}`` for a job config of ``source``, or ``{}`` when the watermark is off.

    Without ``settings`` the process's settings are used, and only when ``KSTREAM_WATERMARK_LOGO`` is set (so the
    ladder stays a pure function of its arguments wherever the watermark is off, tests included)."""
    if settings is None:
        if not os.environ.get(env_variable("watermark_logo")):
            return {}
        settings = get_settings()
    if not settings.watermark_logo:
        return {}
    key = (settings.watermark_logo, settings.media_bucket)
    if key not in _LOGOS:
        _LOGOS[key] = _find_logo(settings)
    logo = _LOGOS[key]
    return {"overlays": [overlay_for(logo, source.width, source.height, corner=settings.watermark_corner,
                                     opacity=settings.watermark_opacity, width=settings.watermark_width)]}


_LOGOS: dict[tuple[str, str], Logo] = {}  # (setting, media bucket) -> the logo: looked up once per process


def _find_logo(settings: Settings) -> Logo:
    """The logo's Cloud Storage object (copied there when the setting is a file) and its size."""
    from kstream.adapters import storage as storage_adapter

    setting, media_bucket = settings.watermark_logo, settings.media_bucket
    client = storage_adapter.client(settings)
    if setting.startswith("gs://"):
        bucket, _, name = setting[5:].partition("/")
        if not bucket or not name:
            raise ConfigurationError(f"{env_variable('watermark_logo')}: {setting!r} is not gs://bucket/object")
        head = client.bucket(bucket).blob(name).download_as_bytes(start=0, end=23)
        return Logo(setting, *png_size(head, setting))
    path = Path(setting)
    if not path.is_file():
        raise ConfigurationError(f"{env_variable('watermark_logo')}: no file {setting!r}")
    data = path.read_bytes()
    width, height = png_size(data[:24], setting)
    name = f"{BRANDING_PREFIX}watermark-{hashlib.sha256(data).hexdigest()[:16]}.png"
    blob = client.bucket(media_bucket).blob(name)
    if not blob.exists():
        blob.upload_from_string(data, content_type="image/png")
    return Logo(f"gs://{media_bucket}/{name}", width, height)
