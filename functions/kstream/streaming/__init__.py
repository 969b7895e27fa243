"""Streaming (spec 3.4): who may stream a video, the manifests the stream function answers, and the Cloud CDN
grants that let players fetch the bytes. Video bytes never pass through a function; see docs/streaming.md."""

from .access import GRANT_TTL, MediaGrant, MediaSigner, check_can_stream, cookie_domain, set_cookie_header
from .manifests import ManifestError, RenditionMissing, hls_variants, rendition_name, rewrite_hls, rewrite_mpd
from .media_store import GcsMediaStore, MediaStore
from .service import DASH_MEDIA_TYPE, HLS_MEDIA_TYPE, StreamAnswer, StreamService, progressive_quality

__all__ = [
    "DASH_MEDIA_TYPE",
    "GRANT_TTL",
    "HLS_MEDIA_TYPE",
    "GcsMediaStore",
    "ManifestError",
    "MediaGrant",
    "MediaSigner",
    "MediaStore",
    "RenditionMissing",
    "StreamAnswer",
    "StreamService",
    "check_can_stream",
    "cookie_domain",
    "hls_variants",
    "progressive_quality",
    "rendition_name",
    "rewrite_hls",
    "rewrite_mpd",
    "set_cookie_header",
]
