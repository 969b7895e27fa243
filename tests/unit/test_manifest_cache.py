"""The stream function's manifest cache: one bucket read per manifest version, a document change reads again, and
entries expire, are bounded and never hold a missing object."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kstream.errors import KstreamError
from kstream.streaming import ManifestCache, MediaSigner, StreamService

from contracts.stream import StreamQuery
from tests.unit.test_stream_service import BASE, KEY_NAME, KEYS, NOW, Bucket, Catalog, _objects, _viewer

V1 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
V2 = datetime(2026, 12, 1, 10, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _doc(updated: datetime | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": "ep1", "status": "ready", "uploaderId": "u-up", "availableQualities": ["360p", "720p"]}
    if updated is not None:
        doc["updatedAt"] = updated
    return doc


def _service(doc: dict[str, Any], cache: ManifestCache, objects: dict[str, str] | None = None) -> StreamService:
    return StreamService(Catalog({"ep1": doc}), Bucket(objects if objects is not None else _objects()),
                         MediaSigner(BASE, KEY_NAME, KEYS[KEY_NAME]), clock=lambda: NOW, manifests=cache)


def _play(service: StreamService, **query: str) -> str:
    return service.open(_viewer(), "ep1", StreamQuery.model_validate(query), token=None).body or ""


def _reads(service: StreamService) -> list[str]:
    return service.media.reads  # type: ignore[attr-defined, no-any-return]


def test_a_manifest_is_read_once_per_version_of_the_videos_document() -> None:
    doc = _doc(V1)
    service = _service(doc, ManifestCache())
    first = _play(service)
    assert _play(service) == first
    assert _play(service, quality="720p")
    assert _reads(service) == ["videos/ep1/manifest.m3u8", "videos/ep1/video-720p.m3u8"]
    # A re-transcode or a new rendition set changes the document (and the stored master) together.
    service.media.objects["videos/ep1/manifest.m3u8"] = first.replace("BANDWIDTH=", "BANDWIDTH=1")  # type: ignore[attr-defined]
    doc["updatedAt"] = V2
    assert _play(service) != first
    assert _reads(service)[-1] == "videos/ep1/manifest.m3u8" and len(_reads(service)) == 3


def test_without_updated_at_nothing_is_cached() -> None:
    service = _service(_doc(None), ManifestCache())
    _play(service)
    _play(service)
    assert _reads(service) == ["videos/ep1/manifest.m3u8"] * 2


def test_a_missing_manifest_is_not_remembered() -> None:
    objects = _objects()
    master = objects.pop("videos/ep1/manifest.mpd")
    service = _service(_doc(V1), ManifestCache(), objects)
    for _ in range(2):
        with pytest.raises(KstreamError, match="no DASH rendition"):
            _play(service, format="dash")
    objects["videos/ep1/manifest.mpd"] = master
    assert "<MPD" in _play(service, format="dash")
    assert _reads(service) == ["videos/ep1/manifest.mpd"] * 3


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = ManifestCache(ttl_seconds=60, clock=clock)
    cache.put("a", "v1", "text")
    clock.now = 59.9
    assert cache.get("a", "v1") == "text"
    assert cache.get("a", "v2") is None
    clock.now = 60.1
    assert cache.get("a", "v1") is None
    assert len(cache) == 0 and cache.size == 0


def test_the_least_recently_used_go_first_beyond_the_bound() -> None:
    cache = ManifestCache(max_characters=10)
    cache.put("a", "v", "aaaa")
    cache.put("b", "v", "bbbb")
    assert cache.get("a", "v") == "aaaa"  # a is now the most recently used
    cache.put("c", "v", "cccc")
    assert cache.get("b", "v") is None and cache.get("a", "v") == "aaaa" and cache.get("c", "v") == "cccc"
    assert cache.size == 8
    cache.put("huge", "v", "x" * 11)  # larger than the whole cache: not kept, nothing evicted
    assert cache.get("huge", "v") is None and len(cache) == 2
    cache.put("a", "v", "aa")  # replacing an entry accounts for its new size
    assert cache.size == 6
