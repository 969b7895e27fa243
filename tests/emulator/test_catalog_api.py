"""Catalog endpoints through the local gateway: metadata upsert (service only), video get, visibility by role,
error envelopes. Data is written through the real endpoint or the real service against the Firestore emulator."""

from __future__ import annotations

from typing import Any

import pytest
from google.cloud import firestore
from kstream.auth import Principal
from kstream.catalog import videos
from kstream.catalog.repository import CatalogRepository
from kstream.catalog.visibility import Viewer
from kstream.errors import InsufficientPermissions, NotFound, RequestInvalid
from kstream.validation import validate

from contracts.metadata import CreateVideoMetadataRequest
from local_emulator import tokens
from local_emulator.stack import StackConfig
from tests.helpers import api_as, assert_envelope

UPSERT = "/api/metadata/videos"


def video_body(video_id: str, **changes: Any) -> dict[str, Any]:
    """A valid CreateVideoMetadataRequest body."""
    body: dict[str, Any] = {
        "videoId": video_id,
        "title": f"Title {video_id}",
        "series": f"Series {video_id}",
        "episode": 1,
        "description": "",
        "duration": 3600.5,
        "fileSize": 1_234_567,
        "uploaderId": "uploader-x",
        "uploaderUsername": "Uploader X",
        "availableQualities": ["360p", "720p", "1080p"],
        "thumbnailUrl": f"/media/{video_id}/thumb.jpg",
        "streamingUrls": {"hls": f"/media/{video_id}/master.m3u8", "dash": f"/media/{video_id}/manifest.mpd"},
        "tags": ["romance"],
        "language": "ko",
        "subtitles": ["en", "ko"],
    }
    body.update(changes)
    return body


def repo_of(cfg: StackConfig) -> CatalogRepository:
    return CatalogRepository(firestore.Client(project=cfg.project_id))


def user(cfg: StackConfig, role: str, name: str) -> tuple[str, str]:
    """A Firebase user of ``role``: (uid, email)."""
    email = f"{name}@kstream.test"
    return tokens.ensure_user(cfg, email, role), email


def seed(cfg: StackConfig, video_id: str, **changes: Any) -> dict[str, Any]:
    """Write a video through the service (one transaction, series kept consistent)."""
    body = video_body(video_id, **changes)
    request = validate(CreateVideoMetadataRequest, body, where="video")
    return videos.upsert_from_request(repo_of(cfg), request).model_dump(mode="json", exclude_none=True)


def playback_urls_of(cfg: StackConfig, video_id: str, urls: dict[str, str], formats: tuple[str, ...]) -> None:
    """streamingUrls as answered: the stream function's playback URL of each stored format, with a playback token
    (decision 0010), so a bare player plays them; never the stored object path."""
    assert set(urls) == set(formats), urls
    for fmt in formats:
        assert urls[fmt].startswith(f"{cfg.gateway_url}/api/stream/{video_id}?format={fmt}&token="), urls[fmt]


# -- POST /api/metadata/videos --------------------------------------------------------------------------------
def test_upsert_creates_then_is_idempotent_and_updates(local_cloud: StackConfig, unique: str) -> None:
    api = api_as(local_cloud, "service")
    body = video_body(f"up{unique}")
    first = api.post(UPSERT, json=body)
    assert first.status_code == 200, first.text
    created = first.json()
    assert created["id"] == body["videoId"] and created["status"] == "ready"
    assert created["uploader"] == {"id": "uploader-x", "username": "Uploader X"}
    playback_urls_of(local_cloud, body["videoId"], created["streamingUrls"], ("hls", "dash"))
    assert created["thumbnailUrl"] == body["thumbnailUrl"]  # not in the video's media folder: left as given
    assert created["availableQualities"] == ["360p", "720p", "1080p"]
    assert created["uploadDate"].endswith("Z")

    again = api.post(UPSERT, json=body)
    assert again.status_code == 200 and again.json() == created  # same body, same resource, same uploadDate

    changed = api.post(UPSERT, json={**body, "title": "New title", "episode": 2, "status": "processing"})
    assert changed.status_code == 200
    assert changed.json()["title"] == "New title" and changed.json()["episode"] == 2
    assert changed.json()["status"] == "processing"
    assert changed.json()["uploadDate"] == created["uploadDate"]
    kept = api.post(UPSERT, json={**body, "title": "Newer"})  # no status: an existing video keeps its status
    assert kept.json()["status"] == "processing"
    seen = api_as(local_cloud, "admin").get(f"/api/v1/videos/{body['videoId']}")
    assert seen.status_code == 200 and seen.json()["title"] == "Newer"


def test_upsert_is_for_service_identities_only(local_cloud: StackConfig, unique: str) -> None:
    body = video_body(f"deny{unique}")
    assert_envelope(api_as(local_cloud, "admin").post(UPSERT, json=body), 403, "AUTH_INSUFFICIENT_PERMISSIONS")
    assert_envelope(api_as(local_cloud, "uploader").post(UPSERT, json=body), 403, "AUTH_INSUFFICIENT_PERMISSIONS")
    assert_envelope(api_as(local_cloud, None).post(UPSERT, json=body), 401, "AUTH_INVALID_TOKEN")
    assert_envelope(api_as(local_cloud, "admin").get(f"/api/videos/{body['videoId']}"), 404, "STREAM_VIDEO_NOT_FOUND")


@pytest.mark.parametrize(("change", "field"), [
    ({"videoId": "a/b"}, "videoId"),
    ({"videoId": ""}, "videoId"),
    ({"title": "   "}, "title"),
    ({"episode": -1}, "episode"),
    ({"episode": "two"}, "episode"),
    ({"duration": -5}, "duration"),
    ({"availableQualities": ["4k"]}, "availableQualities.0"),
    ({"streamingUrls": {}}, "streamingUrls.hls"),
    ({"tags": ["x" * 51]}, "tags.0"),
    ({"tags": [f"t{i}" for i in range(31)]}, "tags"),
    ({"language": "k"}, "language"),
    ({"status": "deleted"}, "status"),
    ({"colour": "red"}, "colour"),
])
def test_upsert_refuses_bad_bodies_naming_the_field(local_cloud: StackConfig, unique: str, change: dict[str, Any],
                                                   field: str) -> None:
    api = api_as(local_cloud, "service")
    error = assert_envelope(api.post(UPSERT, json=video_body(f"bad{unique}", **change)), 400, "REQUEST_INVALID")
    assert field in [p["field"] for p in error["details"]["fields"]], error


def test_upsert_refuses_missing_fields_and_non_json(local_cloud: StackConfig, unique: str) -> None:
    api = api_as(local_cloud, "service")
    body = video_body(f"miss{unique}")
    del body["title"]
    error = assert_envelope(api.post(UPSERT, json=body), 400, "REQUEST_INVALID")
    assert "title" in error["message"]
    assert_envelope(api.post(UPSERT, data="{not json", headers={"Content-Type": "application/json"}), 400,
                    "REQUEST_INVALID")
    assert_envelope(api.post(UPSERT, data="x", headers={"Content-Type": "text/plain"}), 400, "REQUEST_INVALID")


# -- GET /api/videos/{videoId} --------------------------------------------------------------------------------
def test_get_returns_the_full_metadata(local_cloud: StackConfig, unique: str) -> None:
    stored = seed(local_cloud, f"get{unique}", title="사랑의 불시착 1화", series="사랑의 불시착", episode=1)
    response = api_as(local_cloud, "user").get(f"/api/videos/{stored['id']}")
    assert response.status_code == 200
    body = response.json()
    playback_urls_of(local_cloud, stored["id"], body.pop("streamingUrls"), ("hls", "dash"))
    assert body == {k: v for k, v in stored.items() if k != "streamingUrls"}
    assert set(body) | {"streamingUrls"} >= {"id", "title", "series", "episode", "description", "duration", "fileSize",
                         "availableQualities", "thumbnailUrl", "uploadDate", "uploader", "streamingUrls"}
    assert body["uploader"] == {"id": "uploader-x", "username": "Uploader X"}


@pytest.mark.parametrize("video_id", ["does-not-exist", "a%20b", "__x__", "." * 3, "x" * 200])
def test_get_unknown_or_impossible_ids_are_404(local_cloud: StackConfig, video_id: str) -> None:
    response = api_as(local_cloud, "user").get(f"/api/videos/{video_id}")
    assert_envelope(response, 404, "STREAM_VIDEO_NOT_FOUND")


def test_get_visibility_by_role(local_cloud: StackConfig, unique: str) -> None:
    owner_id, owner_email = user(local_cloud, "uploader", f"owner{unique}")
    _, other_email = user(local_cloud, "uploader", f"other{unique}")
    for status in ("processing", "failed"):
        video = seed(local_cloud, f"{status[:4]}{unique}", uploaderId=owner_id, status=status)
        path = f"/api/videos/{video['id']}"
        assert_envelope(api_as(local_cloud, "user").get(path), 404, "STREAM_VIDEO_NOT_FOUND")
        assert_envelope(api_as(local_cloud, "uploader", other_email).get(path), 404, "STREAM_VIDEO_NOT_FOUND")
        mine = api_as(local_cloud, "uploader", owner_email).get(path)
        assert mine.status_code == 200 and mine.json()["status"] == status
        assert api_as(local_cloud, "admin").get(path).json()["status"] == status


def test_get_needs_a_user_token(local_cloud: StackConfig, unique: str) -> None:
    video = seed(local_cloud, f"tok{unique}")
    assert_envelope(api_as(local_cloud, None).get(f"/api/videos/{video['id']}"), 401, "AUTH_INVALID_TOKEN")
    assert_envelope(api_as(local_cloud, "user").get(f"/api/v2/videos/{video['id']}"), 400, "API_VERSION_UNSUPPORTED")


# -- pipeline functions ---------------------------------------------------------------------------------------
def test_pipeline_lifecycle_processing_ready_failed_delete(local_cloud: StackConfig, unique: str) -> None:
    repo = repo_of(local_cloud)
    owner_id, owner_email = user(local_cloud, "uploader", f"pipe{unique}")
    video_id = f"pipe{unique}"
    created = videos.upsert_video(video_id=video_id, title="Episode", series=f"Pipe {unique}", episode=1,
                                   uploader_id=owner_id, uploader_username="pipe", status="processing", repo=repo)
    assert created.status == "processing" and created.availableQualities == []
    path = f"/api/videos/{video_id}"
    assert_envelope(api_as(local_cloud, "user").get(path), 404, "STREAM_VIDEO_NOT_FOUND")
    assert api_as(local_cloud, "uploader", owner_email).get(path).status_code == 200

    ready = videos.mark_ready(video_id=video_id, available_qualities=["360p", "720p"],
                               streaming_urls={"hls": f"/media/{video_id}/master.m3u8"},
                               thumbnail_url=f"/media/{video_id}/t.jpg", duration=61.5, file_size=999, repo=repo)
    assert ready.status == "ready" and ready.duration == 61.5 and ready.uploadDate == created.uploadDate
    viewed = api_as(local_cloud, "user").get(path)
    assert viewed.status_code == 200
    playback_urls_of(local_cloud, video_id, viewed.json()["streamingUrls"], ("hls",))

    failed = videos.mark_failed(video_id=video_id, reason="decoder error", repo=repo)
    assert failed.status == "failed"
    assert_envelope(api_as(local_cloud, "user").get(path), 404, "STREAM_VIDEO_NOT_FOUND")

    viewer = Viewer.of(Principal("u", "u", "user", ("videos:read",)))
    with pytest.raises(InsufficientPermissions):
        videos.delete_video(video_id=video_id, by=Principal("u", "u", "uploader", ()), repo=repo)
    videos.delete_video(video_id=video_id, by=Principal("a", "a", "admin", ()), repo=repo)
    assert_envelope(api_as(local_cloud, "admin").get(path), 404, "STREAM_VIDEO_NOT_FOUND")
    for call in (lambda: videos.mark_ready(video_id=video_id, available_qualities=[], streaming_urls={"hls": ""},
                                            repo=repo),
                 lambda: videos.mark_failed(video_id=video_id, repo=repo),
                 lambda: videos.delete_video(video_id=video_id, by=Principal("a", "a", "admin", ()),
                                              repo=repo)):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.code == "STREAM_VIDEO_NOT_FOUND"
    with pytest.raises(NotFound):
        videos.get_video(repo, viewer, video_id)


def test_pipeline_values_are_validated(local_cloud: StackConfig, unique: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        videos.upsert_video(video_id=f"v{unique}", title="", series="S", episode=1, uploader_id="u",
                             uploader_username="u", repo=repo_of(local_cloud))
    assert "title" in caught.value.message
