"""Playback URLs a bare player opens (token in the query, every playlist rewritten with signed URIs), artwork URLs
signed per image, and CORS from the allowed-origins setting (docs/decisions/0010)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from kstream.cdn_signing import CdnSignatureError, decode_key, verify_request
from kstream.errors import InvalidToken, KstreamError, NotFound, RequestInvalid
from kstream.http import cors_headers
from kstream.settings import Settings
from kstream.streaming import HLS_MEDIA_TYPE, MediaSigner, StreamService
from kstream.streaming.access import PlaybackToken, stable_expiry
from kstream.streaming.links import CatalogLinks
from kstream.streaming.manifests import keep_hls_variant

from contracts.stream import StreamQuery
from tests.unit.test_stream_manifests import MASTER, MEDIA
from tests.unit.test_stream_service import BASE, KEY_NAME, KEYS, NOW, PREFIX, _doc, _objects, _service, _viewer

KEY = KEYS[KEY_NAME]
API = "https://kstream.example/api/stream/ep1"


def _uris(body: str) -> list[str]:
    found = []
    for line in body.splitlines():
        if line and not line.startswith("#"):
            found.append(line)
        elif 'URI="' in line:
            found.append(line.split('URI="', 1)[1].split('"', 1)[0])
    return found


def _token(service: StreamService, expires: datetime | None = None) -> str:
    return service.signer.playback_token("ep1", expires or NOW + timedelta(hours=1))


def test_token_round_trip_and_refusals() -> None:
    token = PlaybackToken("ep1", NOW + timedelta(hours=1)).encode(KEY)
    assert PlaybackToken.verify(token, "ep1", KEY, NOW).expires_at == NOW + timedelta(hours=1)
    for text, video, now in [(token, "ep2", NOW), (token, "ep1", NOW + timedelta(hours=1)),
                             (token[:-1] + ("A" if token[-1] != "A" else "B"), "ep1", NOW), ("", "ep1", NOW),
                             (token.replace(".", "-"), "ep1", NOW)]:
        with pytest.raises(ValueError):
            PlaybackToken.verify(text, video, KEY, now)
    with pytest.raises(ValueError):
        PlaybackToken.verify(token, "ep1", decode_key("AQECAwQFBgcICQoLDA0ODw=="), NOW)


def test_stable_expiry_is_one_url_per_hour() -> None:
    first = stable_expiry(datetime(2026, 11, 27, 12, 0, 1, tzinfo=UTC))
    assert first == stable_expiry(datetime(2026, 11, 27, 12, 59, 59, tzinfo=UTC)) == datetime(2026, 11, 27, 17,
                                                                                               tzinfo=UTC)
    assert first - datetime(2026, 11, 27, 12, 59, 59, tzinfo=UTC) >= timedelta(hours=4)


def test_master_lists_every_playlist_through_the_function_with_a_token() -> None:
    service = _service()
    answer = service.open(_viewer(), "ep1", StreamQuery(), stream_url=API, playlist_links=True)
    assert answer.media_type == HLS_MEDIA_TYPE
    uris = _uris(answer.body)
    assert [urlsplit(u)._replace(query="").geturl() for u in uris] == [API] * 4  # audio, 2 variants, i-frames
    playlists = [parse_qs(urlsplit(u).query) for u in uris]
    assert [p["playlist"] for p in playlists] == [["audio.m3u8"], ["video-360p.m3u8"], ["video-720p.m3u8"],
                                                 ["iframes/video-360p-iframes.m3u8"]]
    for query in playlists:
        assert query["format"] == ["hls"]
        PlaybackToken.verify(query["token"][0], "ep1", KEY, NOW)


def test_each_playlist_comes_back_with_every_uri_signed_on_the_cdn() -> None:
    service = _service(objects=_objects(**{"videos/ep1/audio.m3u8": MEDIA.replace("video-360p", "audio")}))
    token = _token(service)
    for name in ("video-360p.m3u8", "audio.m3u8"):
        answer = service.open(None, "ep1", StreamQuery(), token=token, playlist=name, playlist_links=True)
        uris = _uris(answer.body)
        assert len(uris) == 3 and all(u.startswith(PREFIX) for u in uris)
        for uri in uris:  # the CDN accepts each one with no cookie
            verify_request(uri, None, KEYS, NOW)
        with pytest.raises(CdnSignatureError):
            verify_request(uris[0].split("?")[0], None, KEYS, NOW)


def test_quality_is_a_master_with_that_variant_and_the_audio() -> None:
    service = _service()
    body = service.open(_viewer(), "ep1", StreamQuery(quality="720p"), stream_url=API, playlist_links=True).body
    names = [parse_qs(urlsplit(u).query)["playlist"][0] for u in _uris(body)]
    assert names == ["audio.m3u8", "video-720p.m3u8"]
    assert "RESOLUTION=1728x720" in body and "RESOLUTION=640x360" not in body
    kept = keep_hls_variant(MASTER, "360p")
    assert "video-360p.m3u8" in kept and "video-720p" not in kept and "TYPE=AUDIO" in kept


@pytest.mark.parametrize("fmt", ["hls", "dash"])
def test_a_token_opens_the_video_without_a_viewer(fmt: str) -> None:
    service = _service()
    answer = service.open(None, "ep1", StreamQuery(format=fmt), token=_token(service), stream_url=API,
                          playlist_links=True)
    assert answer.body and answer.grant is not None
    assert answer.grant.expires_at <= NOW + timedelta(hours=1)  # never longer than the token


@pytest.mark.parametrize(("doc", "token_for", "error"), [
    (_doc(), None, InvalidToken),
    (_doc(), "ep2", InvalidToken),
    (_doc(status="failed"), "ep1", NotFound),
    (None, "ep1", NotFound),
])
def test_refused_tokens(doc: dict[str, Any] | None, token_for: str | None, error: type[KstreamError]) -> None:
    service = _service(doc=doc or {"id": "other"})
    if doc is None:
        service.videos.docs.clear()
    token = service.signer.playback_token(token_for, NOW + timedelta(hours=1)) if token_for else None
    with pytest.raises(error):
        service.open(None, "ep1", StreamQuery(), token=token, playlist_links=True)
    expired = service.signer.playback_token("ep1", NOW)
    with pytest.raises(InvalidToken):
        service.open(None, "ep1", StreamQuery(), token=expired)


@pytest.mark.parametrize("name", ["../ep2/video-360p.m3u8", "video-360p0000000000.m4s", "manifest.m3u8",
                                  "/videos/ep1/x.m3u8", "a//b.m3u8"])
def test_playlist_names_stay_media_playlists_of_the_folder(name: str) -> None:
    service = _service()
    with pytest.raises((RequestInvalid, NotFound)):
        service.open(None, "ep1", StreamQuery(), token=_token(service), playlist=name)
    with pytest.raises(RequestInvalid):
        service.open(None, "ep1", StreamQuery(format="dash"), token=_token(service), playlist="video-360p.m3u8")


def test_catalog_links() -> None:
    signer = MediaSigner(BASE, KEY_NAME, KEY)
    links = CatalogLinks(signer, "https://kstream.example", clock=lambda: NOW)
    stored = {"hls": f"{PREFIX}manifest.m3u8", "dash": f"{PREFIX}manifest.mpd"}
    urls = links.playback_urls(_doc() | {"id": "ep1"}, stored)
    for fmt, url in urls.items():
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://kstream.example/api/stream/ep1"
        query = parse_qs(parts.query)
        assert query["format"] == [fmt]
        assert PlaybackToken.verify(query["token"][0], "ep1", KEY, NOW).expires_at == stable_expiry(NOW)
    assert links.playback_urls(_doc(status="processing") | {"id": "ep1"}, {"hls": ""}) == {"hls": ""}
    poster = links.artwork_url("ep1", f"{PREFIX}poster0000000000.jpeg")
    verify_request(poster, None, KEYS, NOW)
    assert poster == links.artwork_url("ep1", f"{PREFIX}poster0000000000.jpeg")  # same URL: cacheable
    for video, url in [("ep2", f"{PREFIX}poster0000000000.jpeg"), ("ep1", f"{PREFIX}progressive.mp4"),
                       ("ep1", "https://elsewhere.example/p.jpeg"), ("ep1", "")]:
        assert links.artwork_url(video, url) == url
    settings = Settings(project_id="demo-x", cdn_base_url="https://kstream.example/media",
                        cdn_key_secret="AAECAwQFBgcICQoLDA0ODw==")
    assert CatalogLinks.from_settings(settings).api_base_url == "https://kstream.example"


def test_cors_reflects_allowed_origins_only() -> None:
    settings = Settings(project_id="demo-x", cors_allowed_origins="https://app.example, http://127.0.0.1:8000")
    assert settings.cors_allowed_origins == ["https://app.example", "http://127.0.0.1:8000"]
    allowed = cors_headers("https://app.example", settings)
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example"
    assert allowed["Access-Control-Allow-Credentials"] == "true"
    for origin in ("https://evil.example", None, "https://app.example.evil"):
        other = cors_headers(origin, settings)
        assert other["Access-Control-Allow-Origin"] == "*" and "Access-Control-Allow-Credentials" not in other
    with pytest.raises(ValueError):
        Settings(project_id="demo-x", cors_allowed_origins="https://app.example/path")
