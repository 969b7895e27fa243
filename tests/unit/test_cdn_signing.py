"""Cloud CDN signed URL / URL prefix / cookie: known answers, round trips, rejections."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
from kstream import cdn_signing
from kstream.cdn_signing import (
    COOKIE_NAME,
    CdnSignatureError,
    attach_signed_query,
    decode_key,
    generate_key,
    sign_cookie,
    sign_url,
    sign_url_prefix,
    verify_request,
)

# Known answers: inputs and expected outputs of Google's own sample tests,
# GoogleCloudPlatform/python-docs-samples cdn/snippets_test.py.
SAMPLE_KEY = "nZtRohdNF9m3cKM24IcK4w=="
SAMPLE_EXPIRES = datetime.fromtimestamp(1549751401, UTC)

KEY_NAME = "kstream-key-1"
KEY = decode_key("AAECAwQFBgcICQoLDA0ODw==")
OTHER_KEY = decode_key("8PHy8_T19vf4-fr7_P3-_w")
KEYS = {KEY_NAME: KEY}
NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
PREFIX = "https://cdn.kstream.test/v/ep-0001/"
MASTER = PREFIX + "master.m3u8"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "http://35.186.234.33/index.html",
            (
                "http://35.186.234.33/index.html?Expires=1549751401&KeyName=my-key"
                "&Signature=CRFqQnVfFyiUyR63OQf-HRUpIwc="
            ),
        ),
        (
            "http://www.example.com/",
            (
                "http://www.example.com/?Expires=1549751401&KeyName=my-key"
                "&Signature=OqDUFfHpN5Vxga6r80bhsgxKves="
            ),
        ),
        (
            "http://www.example.com/some/path?some=query&another=param",
            (
                "http://www.example.com/some/path?some=query&another=param&Expires=1549751401"
                "&KeyName=my-key&Signature=9Q9TCxSju8-W5nUkk5CuTrun2_o="
            ),
        ),
    ],
)
def test_sign_url_known_answer(url: str, expected: str) -> None:
    assert sign_url(url, "my-key", decode_key(SAMPLE_KEY), SAMPLE_EXPIRES) == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "http://35.186.234.33/",
            (
                "URLPrefix=aHR0cDovLzM1LjE4Ni4yMzQuMzMv&Expires=1549751401&KeyName=my-key"
                "&Signature=j7HYgoQ8dIOVsW3Rw4cpkjWfRMA="
            ),
        ),
        (
            "http://www.example.com/",
            (
                "URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS8=&Expires=1549751401&KeyName=my-key"
                "&Signature=UdT5nVks6Hh8QFMJI9kmXuXYBk0="
            ),
        ),
        (
            "http://www.example.com/some/",
            (
                "URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9zb21lLw==&Expires=1549751401&KeyName=my-key"
                "&Signature=3th4ThmpS95I1TAKYyYSCSq3dnQ="
            ),
        ),
    ],
)
def test_sign_url_prefix_known_answer(prefix: str, expected: str) -> None:
    assert (
        sign_url_prefix(prefix, "my-key", decode_key(SAMPLE_KEY), SAMPLE_EXPIRES)
        == expected
    )


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "http://35.186.234.33/index.html",
            (
                "URLPrefix=aHR0cDovLzM1LjE4Ni4yMzQuMzMvaW5kZXguaHRtbA==:Expires=1549751401"
                ":KeyName=my-key:Signature=uImwlOBCPs91mlCyG9vyyZRrNWU="
            ),
        ),
        (
            "http://www.example.com/foo/",
            (
                "URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9mb28v:Expires=1549751401"
                ":KeyName=my-key:Signature=Z9uYAu73YHioRScZDxnP-TnS274="
            ),
        ),
    ],
)
def test_sign_cookie_known_answer(prefix: str, expected: str) -> None:
    assert (
        sign_cookie(prefix, "my-key", decode_key(SAMPLE_KEY), SAMPLE_EXPIRES)
        == expected
    )


def test_known_answer_urls_verify() -> None:
    keys = {"my-key": decode_key(SAMPLE_KEY)}
    before = SAMPLE_EXPIRES - timedelta(seconds=1)
    verify_request(
        "http://www.example.com/some/path?some=query&another=param&Expires=1549751401"
        "&KeyName=my-key&Signature=9Q9TCxSju8-W5nUkk5CuTrun2_o=",
        None,
        keys,
        before,
    )
    verify_request(
        "http://www.example.com/some/path?some=query&another=param"
        "&URLPrefix=aHR0cDovL3d3dy5leGFtcGxlLmNvbS9zb21lLw==&Expires=1549751401&KeyName=my-key"
        "&Signature=3th4ThmpS95I1TAKYyYSCSq3dnQ=",
        None,
        keys,
        before,
    )


# ------------------------------------------------------------------------- keys


def test_generate_key_is_16_random_bytes_base64url() -> None:
    first, second = generate_key(), generate_key()
    assert first != second
    for text in (first, second):
        assert set(text) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
        )
        assert len(decode_key(text)) == 16


@pytest.mark.parametrize(
    "text",
    [
        "AAECAwQFBgcICQoLDA0ODw==",
        "AAECAwQFBgcICQoLDA0ODw",
        " AAECAwQFBgcICQoLDA0ODw==\n",
    ],
)
def test_decode_key_accepts_padded_and_unpadded(text: str) -> None:
    assert decode_key(text) == bytes(range(16))


@pytest.mark.parametrize(
    "text",
    [
        "AAECAwQFBgcICQoLDA0O",  # 15 bytes
        "AAECAwQFBgcICQoLDA0ODxA=",  # 17 bytes
        "AAECAwQFBgcICQoLDA0O+w==",  # standard-alphabet '+'
        "AAECAwQFBgcICQoLDA0O*w==",
        "",
    ],
)
def test_decode_key_rejects_bad_keys(text: str) -> None:
    with pytest.raises(ValueError):
        decode_key(text)


# ------------------------------------------------------------------ round trips


def test_single_url_round_trip() -> None:
    url = sign_url(MASTER, KEY_NAME, KEY, LATER)
    verify_request(url, None, KEYS, NOW)
    verify_request(url, None, KEYS, NOW, method="HEAD")


def test_single_url_with_own_query_round_trip() -> None:
    url = sign_url(MASTER + "?lang=ko&sub=en", KEY_NAME, KEY, LATER)
    assert url.startswith(MASTER + "?lang=ko&sub=en&Expires=")
    verify_request(url, None, KEYS, NOW)


@pytest.mark.parametrize(
    "path", ["master.m3u8", "720p/index.m3u8", "720p/seg_00001.m4s", "subs/ko.vtt"]
)
def test_prefix_query_round_trip(path: str) -> None:
    query = sign_url_prefix(PREFIX, KEY_NAME, KEY, LATER)
    verify_request(attach_signed_query(PREFIX + path, query), None, KEYS, NOW)


@pytest.mark.parametrize("path", ["master.m3u8", "1080p/seg_00042.m4s"])
def test_cookie_round_trip(path: str) -> None:
    cookie = f"theme=dark; {COOKIE_NAME}={sign_cookie(PREFIX, KEY_NAME, KEY, LATER)}; other=1"
    verify_request(PREFIX + path, cookie, KEYS, NOW)


def test_rotated_keys_each_verify_their_own_signatures() -> None:
    keys = {KEY_NAME: KEY, "kstream-key-2": OTHER_KEY}
    verify_request(sign_url(MASTER, "kstream-key-2", OTHER_KEY, LATER), None, keys, NOW)
    verify_request(sign_url(MASTER, KEY_NAME, KEY, LATER), None, keys, NOW)


def test_one_valid_cookie_among_several_suffices() -> None:
    stale = sign_cookie(PREFIX, KEY_NAME, KEY, NOW - timedelta(seconds=1))
    fresh = sign_cookie(PREFIX, KEY_NAME, KEY, LATER)
    verify_request(MASTER, f"{COOKIE_NAME}={stale}; {COOKIE_NAME}={fresh}", KEYS, NOW)
    with pytest.raises(CdnSignatureError, match="expired"):
        verify_request(MASTER, f"{COOKIE_NAME}={stale}", KEYS, NOW)


# ---------------------------------------------------------- relative segments


def test_relative_segment_uri_drops_the_signed_query() -> None:
    """RFC 3986 resolution: the segment URI does not inherit the playlist's query."""
    signed_master = attach_signed_query(
        MASTER, sign_url_prefix(PREFIX, KEY_NAME, KEY, LATER)
    )
    verify_request(signed_master, None, KEYS, NOW)
    segment = urljoin(signed_master, "720p/seg_00001.m4s")
    assert segment == PREFIX + "720p/seg_00001.m4s"
    with pytest.raises(CdnSignatureError, match="missing signature"):
        verify_request(segment, None, KEYS, NOW)


def test_relative_segment_passes_with_reattached_prefix_query_or_cookie() -> None:
    query = sign_url_prefix(PREFIX, KEY_NAME, KEY, LATER)
    segment = urljoin(attach_signed_query(MASTER, query), "720p/seg_00001.m4s")
    verify_request(attach_signed_query(segment, query), None, KEYS, NOW)
    cookie = f"{COOKIE_NAME}={sign_cookie(PREFIX, KEY_NAME, KEY, LATER)}"
    verify_request(segment, cookie, KEYS, NOW)


def test_single_url_signature_does_not_cover_a_segment() -> None:
    signed_master = sign_url(MASTER, KEY_NAME, KEY, LATER)
    query = signed_master.partition("?")[2]
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(PREFIX + "720p/seg_00001.m4s?" + query, None, KEYS, NOW)


# ------------------------------------------------------------------- rejections


def _flip_signature(signed: str) -> str:
    head, _, sig = signed.rpartition("Signature=")
    raw = bytearray(base64.urlsafe_b64decode(sig))
    raw[0] ^= 0x01
    return head + "Signature=" + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("url", "cookie"),
    [
        (MASTER, None),
        (MASTER, ""),
        (MASTER, "session=abc; theme=dark"),
        (MASTER + "?lang=ko", None),
    ],
)
def test_missing_signature(url: str, cookie: str | None) -> None:
    with pytest.raises(CdnSignatureError, match="missing signature"):
        verify_request(url, cookie, KEYS, NOW)


def test_signing_params_without_signature() -> None:
    signed = sign_url(MASTER, KEY_NAME, KEY, LATER)
    with pytest.raises(CdnSignatureError, match="no Signature"):
        verify_request(signed.rpartition("&Signature=")[0], None, KEYS, NOW)


def _all_forms(
    expires: datetime, key_name: str = KEY_NAME, key: bytes = KEY
) -> list[tuple[str, str | None]]:
    return [
        (sign_url(MASTER, key_name, key, expires), None),
        (
            attach_signed_query(
                MASTER, sign_url_prefix(PREFIX, key_name, key, expires)
            ),
            None,
        ),
        (MASTER, f"{COOKIE_NAME}={sign_cookie(PREFIX, key_name, key, expires)}"),
    ]


@pytest.mark.parametrize("form", range(3), ids=["url", "prefix", "cookie"])
def test_unknown_key_name(form: int) -> None:
    url, cookie = _all_forms(LATER, key_name="retired-key")[form]
    with pytest.raises(CdnSignatureError, match="unknown key name"):
        verify_request(url, cookie, KEYS, NOW)


@pytest.mark.parametrize("form", range(3), ids=["url", "prefix", "cookie"])
def test_wrong_key_material(form: int) -> None:
    url, cookie = _all_forms(LATER, key=OTHER_KEY)[form]
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(url, cookie, KEYS, NOW)


@pytest.mark.parametrize("form", range(3), ids=["url", "prefix", "cookie"])
def test_flipped_signature_bit(form: int) -> None:
    url, cookie = _all_forms(LATER)[form]
    if cookie is None:
        url = _flip_signature(url)
    else:
        cookie = _flip_signature(cookie)
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(url, cookie, KEYS, NOW)


@pytest.mark.parametrize("form", range(3), ids=["url", "prefix", "cookie"])
def test_expired(form: int) -> None:
    url, cookie = _all_forms(NOW)[form]  # expires exactly now
    with pytest.raises(CdnSignatureError, match="expired"):
        verify_request(url, cookie, KEYS, NOW)
    verify_request(url, cookie, KEYS, NOW - timedelta(seconds=1))


@pytest.mark.parametrize("form", range(3), ids=["url", "prefix", "cookie"])
def test_extended_expiry_is_tampering(form: int) -> None:
    url, cookie = _all_forms(NOW)[form]
    old, new = str(int(NOW.timestamp())), str(int(LATER.timestamp()))
    url, cookie = url.replace(old, new), cookie.replace(old, new) if cookie else None
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(url, cookie, KEYS, NOW)


@pytest.mark.parametrize(
    "target",
    [
        "https://cdn.kstream.test/v/ep-0002/master.m3u8",  # sibling episode
        "https://cdn.kstream.test/v/ep-0001-bonus/x.m4s",  # shares characters, not the directory
        "http://cdn.kstream.test/v/ep-0001/master.m3u8",  # other scheme
        "https://evil.test/v/ep-0001/master.m3u8",  # other host
        "https://cdn.kstream.test/v/",
    ],
)
def test_url_not_under_prefix(target: str) -> None:
    query = sign_url_prefix(PREFIX, KEY_NAME, KEY, LATER)
    with pytest.raises(CdnSignatureError, match="not under the signed URLPrefix"):
        verify_request(attach_signed_query(target, query), None, KEYS, NOW)
    with pytest.raises(CdnSignatureError, match="not under the signed URLPrefix"):
        verify_request(
            target,
            f"{COOKIE_NAME}={sign_cookie(PREFIX, KEY_NAME, KEY, LATER)}",
            KEYS,
            NOW,
        )


@pytest.mark.parametrize(
    "path", ["../ep-0002/master.m3u8", "%2e%2e/ep-0002/master.m3u8", "./x/../../secret"]
)
def test_dot_segments_cannot_escape_prefix(path: str) -> None:
    cookie = f"{COOKIE_NAME}={sign_cookie(PREFIX, KEY_NAME, KEY, LATER)}"
    with pytest.raises(CdnSignatureError, match="dot segments"):
        verify_request(PREFIX + path, cookie, KEYS, NOW)


def test_tampered_prefix_query() -> None:
    query = sign_url_prefix(PREFIX, KEY_NAME, KEY, LATER)
    wider = base64.urlsafe_b64encode(b"https://cdn.kstream.test/").decode()
    original = base64.urlsafe_b64encode(PREFIX.encode()).decode()
    tampered = query.replace(original, wider)
    assert tampered != query
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(
            attach_signed_query(
                "https://cdn.kstream.test/v/ep-0002/master.m3u8", tampered
            ),
            None,
            KEYS,
            NOW,
        )


def test_tampered_prefix_cookie() -> None:
    value = sign_cookie(PREFIX, KEY_NAME, KEY, LATER)
    wider = base64.urlsafe_b64encode(b"https://cdn.kstream.test/").decode()
    tampered = value.replace(base64.urlsafe_b64encode(PREFIX.encode()).decode(), wider)
    assert tampered != value
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(
            "https://cdn.kstream.test/v/ep-0002/master.m3u8",
            f"{COOKIE_NAME}={tampered}",
            KEYS,
            NOW,
        )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda u: u.replace("master.m3u8", "master2.m3u8"),
        lambda u: u.replace("cdn.kstream.test", "cdn2.kstream.test"),
        lambda u: u.replace("lang=ko", "lang=en"),
        lambda u: u.replace("?lang=ko&", "?lang=ko&admin=1&"),
    ],
    ids=["path", "host", "param-value", "param-added"],
)
def test_single_url_tampering(mutate) -> None:  # type: ignore[no-untyped-def]
    url = sign_url(MASTER + "?lang=ko", KEY_NAME, KEY, LATER)
    tampered = mutate(url)
    assert tampered != url
    with pytest.raises(CdnSignatureError, match="bad signature"):
        verify_request(tampered, None, KEYS, NOW)


@pytest.mark.parametrize(
    "suffix",
    ["&extra=1", "&Signature=AAAA", "&KeyName=other"],
    ids=["param-after-signature", "duplicate-signature", "duplicate-keyname"],
)
def test_signature_must_end_query(suffix: str) -> None:
    with pytest.raises(CdnSignatureError, match=r"last query parameter|more than once"):
        verify_request(sign_url(MASTER, KEY_NAME, KEY, LATER) + suffix, None, KEYS, NOW)


@pytest.mark.parametrize(
    "cookie",
    [
        f"{COOKIE_NAME}=garbage",
        f"{COOKIE_NAME}=Expires=1:URLPrefix=aA==:KeyName={KEY_NAME}:Signature=AAAA",
        f"{COOKIE_NAME}=URLPrefix=aA==:Expires=soon:KeyName={KEY_NAME}:Signature=AAAA",
    ],
)
def test_malformed_cookie(cookie: str) -> None:
    with pytest.raises(CdnSignatureError):
        verify_request(MASTER, cookie, KEYS, NOW)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get_and_head(method: str) -> None:
    with pytest.raises(CdnSignatureError, match="GET or HEAD"):
        verify_request(
            sign_url(MASTER, KEY_NAME, KEY, LATER), None, KEYS, NOW, method=method
        )


def test_signatures_are_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = cdn_signing.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(cdn_signing.hmac, "compare_digest", spy)
    verify_request(sign_url(MASTER, KEY_NAME, KEY, LATER), None, KEYS, NOW)
    with pytest.raises(CdnSignatureError):
        verify_request(
            _flip_signature(sign_url(MASTER, KEY_NAME, KEY, LATER)), None, KEYS, NOW
        )
    assert len(calls) == 2 and all(len(a) == len(b) == 20 for a, b in calls)


# --------------------------------------------------------------- input checking


@pytest.mark.parametrize(
    "prefix",
    [
        "cdn.kstream.test/v/",
        "ftp://cdn.kstream.test/v/",
        "https://cdn.kstream.test/v/?a=1",
        "https:///v/",
    ],
)
def test_bad_prefixes_are_refused_when_signing(prefix: str) -> None:
    with pytest.raises(ValueError):
        sign_url_prefix(prefix, KEY_NAME, KEY, LATER)
    with pytest.raises(ValueError):
        sign_cookie(prefix, KEY_NAME, KEY, LATER)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        sign_url(MASTER, KEY_NAME, KEY, datetime(2030, 1, 1))
    with pytest.raises(ValueError):
        verify_request(
            sign_url(MASTER, KEY_NAME, KEY, LATER), None, KEYS, datetime(2026, 1, 1)
        )


@pytest.mark.parametrize("key_name", ["", "a:b", "a&b", "a=b", "x" * 64])
def test_bad_key_names_are_refused(key_name: str) -> None:
    with pytest.raises(ValueError):
        sign_cookie(PREFIX, key_name, KEY, LATER)


def test_url_already_signed_is_refused() -> None:
    with pytest.raises(ValueError):
        sign_url(sign_url(MASTER, KEY_NAME, KEY, LATER), KEY_NAME, KEY, LATER)
