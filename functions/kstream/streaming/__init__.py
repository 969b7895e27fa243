"""Streaming (spec 3.4): who may stream a video, the manifests the stream function answers, and the Cloud CDN
grants that let players fetch the bytes. Video bytes never pass through a function; see docs/streaming.md.

The names below are loaded on first use (PEP 562 ``__getattr__``): the catalogue imports ``streaming.links`` to
sign playback URLs, and importing this package must not load the stream service, the manifests, the transcode
ladder and the GCS media store with it (~100 ms of every catalogue function's cold start; decision 0012).
"""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "access": ("GRANT_TTL", "MediaGrant", "MediaSigner", "check_can_stream", "cookie_domain", "set_cookie_header"),
    "manifests": ("ManifestError", "RenditionMissing", "hls_variants", "rendition_name", "rewrite_hls",
                  "rewrite_mpd"),
    "manifest_cache": ("ManifestCache",),
    "media_store": ("GcsMediaStore", "MediaStore"),
    "service": ("DASH_MEDIA_TYPE", "HLS_MEDIA_TYPE", "StreamAnswer", "StreamService", "progressive_quality"),
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})
