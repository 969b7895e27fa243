"""Who may stream, and the CDN grant: prefix bound to one video, expiring, verifiable as Cloud CDN verifies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kstream.auth import ROLE_PERMISSIONS, Principal
from kstream.catalog.visibility import Viewer
from kstream.cdn_signing import CdnSignatureError, decode_key, verify_request
from kstream.errors import ConfigurationError, KstreamError
from kstream.settings import Settings
from kstream.streaming.access import (
    GRANT_TTL,
    MediaSigner,
    check_can_stream,
    cookie_domain,
    set_cookie_header,
)

KEY_NAME = "unit-key"
SECRET = "AAECAwQFBgcICQoLDA0ODw=="
KEYS = {KEY_NAME: decode_key(SECRET)}
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BASE = "https://cdn.kstream.test/media"


def viewer(role: str, uid: str = "u-1") -> Viewer:
    return Viewer.of(Principal(id=uid, username=uid, role=role, permissions=ROLE_PERMISSIONS[role]))


def doc(status: str, uploader: str = "u-up") -> dict[str, Any]:
    return {"id": "ep1", "status": status, "uploaderId": uploader, "availableQualities": ["360p"]}


# ------------------------------------------------------------------------------------------------------- access


def test_a_missing_video_is_404() -> None:
    with pytest.raises(KstreamError) as raised:
        check_can_stream(viewer("user"), None, "ep1")
    assert (raised.value.status, raised.value.code) == (404, "STREAM_VIDEO_NOT_FOUND")


@pytest.mark.parametrize("role", ["user", "uploader", "admin"])
def test_a_ready_video_streams_for_everyone(role: str) -> None:
    assert check_can_stream(viewer(role), doc("ready"), "ep1")["id"] == "ep1"


@pytest.mark.parametrize(
    ("role", "uid", "status"),
    [
        ("user", "u-1", "processing"),  # viewers see only ready videos
        ("user", "u-1", "failed"),
        ("uploader", "u-1", "processing"),  # someone else's video in progress
        ("uploader", "u-1", "failed"),
    ],
)
def test_a_video_hidden_from_the_caller_is_404_as_if_it_did_not_exist(role: str, uid: str, status: str) -> None:
    with pytest.raises(KstreamError) as raised:
        check_can_stream(viewer(role, uid), doc(status), "ep1")
    assert (raised.value.status, raised.value.code) == (404, "STREAM_VIDEO_NOT_FOUND")


@pytest.mark.parametrize(
    ("role", "uid", "status"),
    [
        ("uploader", "u-up", "processing"),  # own video: visible, not streamable yet
        ("admin", "u-1", "failed"),
    ],
)
def test_a_visible_video_not_ready_is_403(role: str, uid: str, status: str) -> None:
    with pytest.raises(KstreamError) as raised:
        check_can_stream(viewer(role, uid), doc(status), "ep1")
    assert (raised.value.status, raised.value.code) == (403, "STREAM_ACCESS_DENIED")
    assert (raised.value.details or {}).get("status") == status


# -------------------------------------------------------------------------------------------------------- grant


def signer(base: str = BASE) -> MediaSigner:
    return MediaSigner(base, KEY_NAME, KEYS[KEY_NAME])


def test_the_grant_covers_the_video_prefix_and_nothing_else() -> None:
    grant = signer().grant("ep1", NOW)
    assert grant.prefix_url == f"{BASE}/videos/ep1/"
    assert grant.expires_at == NOW + GRANT_TTL
    segment = grant.sign(grant.url("video-360p0000000001.m4s"))
    verify_request(segment, None, KEYS, NOW + timedelta(hours=3))
    for other in (f"{BASE}/videos/ep10/a.m4s", f"{BASE}/videos/ep2/a.m4s", f"{BASE}/private/a.m4s"):
        with pytest.raises(CdnSignatureError):
            verify_request(f"{other}?{grant.query}", None, KEYS, NOW)
    assert grant.sign("https://elsewhere.test/x.m4s") == "https://elsewhere.test/x.m4s"


def test_the_grant_expires() -> None:
    grant = signer().grant("ep1", NOW)
    url = grant.sign(grant.url("a.m4s"))
    with pytest.raises(CdnSignatureError, match="expired"):
        verify_request(url, None, KEYS, NOW + GRANT_TTL)
    with pytest.raises(CdnSignatureError, match="expired"):
        verify_request(grant.url("a.m4s"), f"Cloud-CDN-Cookie={grant.cookie_value}", KEYS, NOW + GRANT_TTL)


def test_the_cookie_authorises_relative_segment_urls() -> None:
    grant = signer().grant("ep1", NOW)
    verify_request(grant.url("video-360p0000000000.m4s"), f"a=b; Cloud-CDN-Cookie={grant.cookie_value}", KEYS, NOW)
    tampered = grant.cookie_value.replace("Expires=", "Expires=9")
    with pytest.raises(CdnSignatureError):
        verify_request(grant.url("a.m4s"), f"Cloud-CDN-Cookie={tampered}", KEYS, NOW)


def test_a_signed_file_url_is_for_that_file_only() -> None:
    url = signer().signed_file("ep1", "progressive.mp4", NOW)
    assert url.startswith(f"{BASE}/videos/ep1/progressive.mp4?Expires=")
    verify_request(url, None, KEYS, NOW)
    with pytest.raises(CdnSignatureError):
        verify_request(url.replace("progressive.mp4", "manifest.m3u8"), None, KEYS, NOW)


def test_video_ids_that_could_escape_the_prefix_are_refused() -> None:
    for bad in ("../x", "a/b", "", "a?b"):
        with pytest.raises(ValueError):
            signer().grant(bad, NOW)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"cdn_base_url": "", "cdn_key_secret": SECRET}, "KSTREAM_CDN_BASE_URL"),
        ({"cdn_base_url": BASE, "cdn_key_secret": ""}, "KSTREAM_CDN_KEY_SECRET"),
        ({"cdn_base_url": BASE, "cdn_key_secret": "short"}, "not a Cloud CDN key"),
        ({"cdn_base_url": "ftp://cdn.test/media", "cdn_key_secret": SECRET}, "http(s) URL"),
    ],
)
def test_bad_cdn_settings_are_a_configuration_error(settings: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        MediaSigner.from_settings(Settings(project_id="demo-unit", **settings))


def test_settings_give_a_working_signer() -> None:
    made = MediaSigner.from_settings(Settings(project_id="demo-unit", cdn_base_url=BASE + "/",
                                              cdn_key_secret=SECRET, cdn_key_name=KEY_NAME))
    grant = made.grant("ep1", NOW)
    assert grant.prefix_url == f"{BASE}/videos/ep1/"
    verify_request(grant.sign(grant.url("a.m4s")), None, KEYS, NOW)


# ------------------------------------------------------------------------------------------------------- cookie


@pytest.mark.parametrize(
    ("api", "cdn", "expected"),
    [
        ("kstream.example", "kstream.example", ""),
        ("127.0.0.1:8080", "127.0.0.1", ""),
        ("api.kstream.example", "media.kstream.example", "kstream.example"),
        ("api.kstream.example:443", "cdn.media.kstream.example", "kstream.example"),
        ("api.kstream.example", "cdn.other.example", None),
        ("10.0.0.1", "10.0.0.2", None),
        ("", "cdn.kstream.example", None),
    ],
)
def test_cookie_domain(api: str, cdn: str, expected: str | None) -> None:
    assert cookie_domain(api, cdn) == expected


def test_set_cookie_over_https() -> None:
    made = signer()
    grant = made.grant("ep1", NOW)
    header = set_cookie_header(grant, made, "cdn.kstream.test", NOW)
    assert header is not None
    parts = header.split("; ")
    assert parts[0] == f"Cloud-CDN-Cookie={grant.cookie_value}"
    assert set(parts[1:]) == {"Path=/media/videos/ep1/", f"Max-Age={int(GRANT_TTL.total_seconds())}", "HttpOnly",
                              "Secure", "SameSite=None"}
    shared = set_cookie_header(grant, made, "api.kstream.test", NOW)
    assert shared is not None and "Domain=kstream.test" in shared.split("; ")


def test_set_cookie_over_plain_http_is_lax_and_not_secure() -> None:
    made = signer("http://127.0.0.1:8080/media")
    grant = made.grant("ep1", NOW)
    header = set_cookie_header(grant, made, "127.0.0.1:8080", NOW)
    assert header is not None
    assert "Secure" not in header.split("; ") and "SameSite=Lax" in header.split("; ")
    assert set_cookie_header(grant, made, "localhost:3000", NOW) is None  # the CDN could never receive it
