"""The stream service over an in-memory catalog and media bucket: every answer and every error code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from kstream.auth import ROLE_PERMISSIONS, Principal
from kstream.catalog.visibility import Viewer
from kstream.cdn_signing import decode_key, verify_request
from kstream.errors import KstreamError, Unavailable
from kstream.streaming import DASH_MEDIA_TYPE, HLS_MEDIA_TYPE, MediaSigner, StreamService, progressive_quality
from kstream.streaming.manifests import ManifestError

from contracts.stream import StreamQuery
from tests.unit.test_stream_manifests import MASTER, MEDIA, MPD

KEY_NAME = "unit-key"
KEYS = {KEY_NAME: decode_key("AAECAwQFBgcICQoLDA0ODw==")}
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:9/media"
PREFIX = f"{BASE}/videos/ep1/"


class Catalog:
    def __init__(self, docs: dict[str, dict[str, Any]]) -> None:
        self.docs = docs

    def get_video(self, video_id: str, *, fields: Any = None) -> dict[str, Any] | None:
        doc = self.docs.get(video_id)
        return doc if doc is None or fields is None else {k: v for k, v in doc.items() if k in fields or k == "id"}


class Bucket:
    def __init__(self, objects: dict[str, str]) -> None:
        self.objects = objects
        self.reads: list[str] = []

    def read_text(self, name: str) -> str | None:
        self.reads.append(name)
        value = self.objects.get(name)
        if value == "<too large>":
            raise ManifestError(f"{name} is too large")
        if value == "<down>":
            raise Unavailable("down")
        return value

    def exists(self, name: str) -> bool:
        return name in self.objects


def _doc(status: str = "ready", qualities: tuple[str, ...] = ("360p", "720p")) -> dict[str, Any]:
    return {"id": "ep1", "status": status, "uploaderId": "u-up", "availableQualities": list(qualities)}


def _objects(**extra: str) -> dict[str, str]:
    objects = {
        "videos/ep1/manifest.m3u8": MASTER,
        "videos/ep1/video-360p.m3u8": MEDIA,
        "videos/ep1/video-720p.m3u8": MEDIA.replace("360p", "720p"),
        "videos/ep1/manifest.mpd": MPD,
        "videos/ep1/progressive.mp4": "",
    }
    objects.update(extra)
    return objects


def _service(doc: dict[str, Any] | None = None, objects: dict[str, str] | None = None) -> StreamService:
    docs = {"ep1": doc if doc is not None else _doc()}
    return StreamService(Catalog(docs), Bucket(objects if objects is not None else _objects()),
                         MediaSigner(BASE, KEY_NAME, KEYS[KEY_NAME]), clock=lambda: NOW)


def _viewer(role: str = "user", uid: str = "u-1") -> Viewer:
    return Viewer.of(Principal(id=uid, username=uid, role=role, permissions=ROLE_PERMISSIONS[role]))


def _open(service: StreamService, video_id: str = "ep1", **query: str) -> Any:
    return service.open(_viewer(), video_id, StreamQuery.model_validate(query))


def _error(call: Any, status: int, code: str) -> KstreamError:
    with pytest.raises(KstreamError) as raised:
        call()
    assert (raised.value.status, raised.value.code) == (status, code), raised.value.message
    return raised.value


def _uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_hls_master_by_default() -> None:
    answer = _open(_service())
    assert answer.media_type == HLS_MEDIA_TYPE and answer.location is None
    uris = _uris(answer.body)
    assert [u.split("?")[0] for u in uris] == [PREFIX + "video-360p.m3u8", PREFIX + "video-720p.m3u8"]
    for uri in uris:
        verify_request(uri, None, KEYS, NOW)
    assert answer.grant.prefix_url == PREFIX


def test_hls_quality_is_that_renditions_media_playlist_fully_signed() -> None:
    service = _service()
    answer = _open(service, quality="720p")
    assert answer.media_type == HLS_MEDIA_TYPE
    uris = _uris(answer.body)
    assert [u.split("?")[0] for u in uris] == [PREFIX + f"video-720p000000000{i}.m4s" for i in (0, 1)]
    assert f'#EXT-X-MAP:URI="{PREFIX}video-720p-init.m4s?URLPrefix=' in answer.body
    for uri in uris:
        verify_request(uri, None, KEYS, NOW)
    assert service.media.reads == ["videos/ep1/manifest.m3u8", "videos/ep1/video-720p.m3u8"]  # type: ignore[attr-defined]


def test_dash_with_and_without_quality() -> None:
    answer = _open(_service(), format="dash")
    assert answer.media_type == DASH_MEDIA_TYPE
    assert answer.body.count(f'media="{PREFIX}') == 3
    only = _open(_service(), format="dash", quality="360p")
    assert "video-720p" not in only.body and 'id="video-360p"' in only.body and 'id="audio"' in only.body


def test_mp4_is_a_redirect_to_the_signed_progressive_file() -> None:
    answer = _open(_service(), format="mp4")
    assert answer.body is None
    assert answer.location.startswith(PREFIX + "progressive.mp4?Expires=")
    verify_request(answer.location, None, KEYS, NOW)
    assert _open(_service(), format="mp4", quality="720p").location == answer.location


def test_unknown_or_hidden_video() -> None:
    _error(lambda: _open(_service(), "nope"), 404, "STREAM_VIDEO_NOT_FOUND")
    _error(lambda: _open(_service(), "../ep1"), 404, "STREAM_VIDEO_NOT_FOUND")
    _error(lambda: _open(_service(_doc("processing"))), 404, "STREAM_VIDEO_NOT_FOUND")  # hidden from a viewer


@pytest.mark.parametrize(
    ("query", "doc", "objects"),
    [
        ({"quality": "1080p"}, _doc(), None),  # not in availableQualities
        ({"quality": "1080p", "format": "dash"}, _doc(qualities=("360p", "720p", "1080p")), None),  # not in the MPD
        ({"quality": "1080p"}, _doc(qualities=("360p", "720p", "1080p")), None),  # not in the master
        ({"quality": "360p", "format": "mp4"}, _doc(), None),  # the progressive file is the 720p rendition
        ({"format": "dash"}, _doc(), {"videos/ep1/manifest.m3u8": MASTER}),  # no DASH was produced
        ({"format": "mp4"}, _doc(), {"videos/ep1/manifest.m3u8": MASTER}),  # no progressive file
        ({}, _doc(), {}),  # nothing in the bucket at all
        ({"quality": "720p"}, _doc(), {"videos/ep1/manifest.m3u8": MASTER}),  # the variant playlist is missing
    ],
)
def test_quality_not_available(query: dict[str, str], doc: dict[str, Any], objects: dict[str, str] | None) -> None:
    error = _error(lambda: _open(_service(doc, objects), **query), 404, "STREAM_QUALITY_NOT_AVAILABLE")
    assert error.details["videoId"] == "ep1"


@pytest.mark.parametrize(
    ("objects", "query"),
    [
        ({"videos/ep1/manifest.m3u8": "garbage"}, {}),
        ({"videos/ep1/manifest.mpd": "<MPD"}, {"format": "dash"}),
        ({"videos/ep1/manifest.m3u8": "<too large>"}, {}),
        ({"videos/ep1/manifest.m3u8": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n../ep2/video-720p.m3u8\n"},
         {"quality": "720p"}),  # a variant outside the video's folder
    ],
)
def test_a_damaged_manifest_is_a_system_error_without_internals(objects: dict[str, str],
                                                                query: dict[str, str]) -> None:
    error = _error(lambda: _open(_service(objects=objects), **query), 500, "SYSTEM_ERROR")
    assert "cannot be served" in error.message


def test_a_storage_outage_is_503() -> None:
    _error(lambda: _open(_service(objects={"videos/ep1/manifest.m3u8": "<down>"})), 503, "SYSTEM_UNAVAILABLE")


@pytest.mark.parametrize(
    ("available", "expected"),
    [(["360p", "720p", "1080p"], "720p"), (["1080p", "360p"], "360p"), (["1080p"], "1080p"), ([], None),
     (["720p"], "720p"), (["540p", "360p"], "540p")],
)
def test_progressive_quality_follows_the_ladder(available: list[str], expected: str | None) -> None:
    assert progressive_quality(available) == expected
