"""Cloud CDN signed URLs, signed URL prefixes and signed cookies (sign and verify).

The streaming function signs; the local gateway, standing in for Cloud CDN, verifies.
Standard library only.

Formats (Cloud CDN "Use signed URLs" / "Use signed cookies", and Google's
``python-docs-samples/cdn/snippets.py`` whose expected outputs are the known-answer
tests in ``tests/unit/test_cdn_signing.py``):

* key: 128 random bits, handed around base64url-encoded (``decode_key``/``generate_key``);
* single URL: ``URL?...&Expires=E&KeyName=K&Signature=S`` where ``S`` is the base64url
  HMAC-SHA1, under the key, of everything before ``&Signature=``;
* URL prefix: ``...?URLPrefix=P&Expires=E&KeyName=K&Signature=S`` where ``P`` is the
  base64url of the prefix (scheme, host and path, no query) and ``S`` is the HMAC-SHA1
  of the policy ``URLPrefix=P&Expires=E&KeyName=K`` only; any URL that starts with the
  decoded prefix is allowed;
* cookie: ``Cloud-CDN-Cookie=URLPrefix=P:Expires=E:KeyName=K:Signature=S`` with the
  HMAC-SHA1 over ``URLPrefix=P:Expires=E:KeyName=K``.

Base64url output keeps its ``=`` padding, as the Google samples do. ``Expires`` is
whole seconds since the Unix epoch; a request is allowed while ``now < Expires``.
The prefix is matched as a plain string, exactly as Cloud CDN does: sign
``https://cdn.example/v/123/`` (trailing slash), never ``.../v/123``, or
``.../v/1234/...`` would match too.

Which form the player should use
--------------------------------
An HLS or DASH player fetches the master playlist, then variant playlists and
segments by URIs *relative* to it. RFC 3986 reference resolution takes the query from
the relative reference, not from the base URL (only an empty reference inherits the
base query), so ``seg_001.m4s`` resolved against ``.../master.m3u8?URLPrefix=...``
is ``.../seg_001.m4s`` with no signature; hls.js and dash.js resolve URIs this way
and do not carry the query over by themselves. Three ways remain:

1. **Every playlist answered per request with absolute signed URIs (what kstream uses
   for playback URLs, docs/decisions/0010).** The stream function answers the master
   (playlist links back to itself with a playback token) and each media playlist
   (segments absolute, with the prefix query). A bare player (AVPlayer, ExoPlayer,
   Chromecast, ffmpeg) needs nothing but the URL; the static objects on the CDN stay
   unchanged and the segments stay cacheable.
2. **Signed cookie.** Cloud CDN's signed-cookie page says it exists for this case:
   authorise a user for a URL prefix without signing each URL. The API still sets
   ``Cloud-CDN-Cookie`` for bearer-token callers (same-site web player: poster and
   storyboard sheets); it needs the API and CDN on one site and, from another origin,
   credentialed requests with CORS answering an explicit origin.
3. Signed URL prefix re-attached by the player to every request (an hls.js
   ``xhrSetup``/custom loader that appends ``attach_signed_query``'s query): needs code
   in every client; not required any more.

Cloud CDN itself lets unsigned requests through to the origin (a private bucket then
refuses them); the gateway plays both parts, so ``verify_request`` refuses a request
that carries no signature at all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator, Mapping
from datetime import datetime
from urllib.parse import unquote, urlsplit

__all__ = [
    "COOKIE_NAME",
    "KEY_BYTES",
    "CdnSignatureError",
    "attach_signed_query",
    "decode_key",
    "generate_key",
    "sign_cookie",
    "sign_url",
    "sign_url_prefix",
    "verify_request",
]

COOKIE_NAME = "Cloud-CDN-Cookie"
KEY_BYTES = 16

_B64URL_RE = re.compile(r"\A[A-Za-z0-9_-]*={0,2}\Z")
_KEY_NAME_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,63}\Z")
_DIGITS_RE = re.compile(r"\A[0-9]{1,12}\Z")
_SIGNING_PARAMS = ("URLPrefix", "Expires", "KeyName", "Signature")


class CdnSignatureError(Exception):
    """The request is not authorised; Cloud CDN answers 403 Forbidden."""

    status = 403

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -------------------------------------------------------------------------- keys


def _b64url_decode(text: str) -> bytes:
    if not _B64URL_RE.match(text):
        raise ValueError("not base64url")
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(
            padded.replace("-", "+").replace("_", "/"), validate=True
        )
    except binascii.Error as exc:
        raise ValueError("not base64url") from exc


def _b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_key(b64: str) -> bytes:
    """Decode a base64url Cloud CDN key (padding optional) into its 16 raw bytes."""
    try:
        key = _b64url_decode(b64.strip())
    except ValueError:
        raise ValueError("signing key is not base64url-encoded") from None
    if len(key) != KEY_BYTES:
        raise ValueError(f"signing key must be {KEY_BYTES} bytes, got {len(key)}")
    return key


def generate_key() -> str:
    """A new random 128-bit key, base64url-encoded as ``gcloud ... add-signed-url-key`` expects."""
    return _b64url_encode(secrets.token_bytes(KEY_BYTES))


# ----------------------------------------------------------------------- signing


def _expires(expires_at: datetime) -> int:
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return int(expires_at.timestamp())


def _check_key_name(key_name: str) -> None:
    if not _KEY_NAME_RE.match(key_name):
        raise ValueError(f"invalid key name {key_name!r}")


def _check_prefix(url_prefix: str) -> None:
    parts = urlsplit(url_prefix)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "url_prefix must start with http:// or https:// and name a host"
        )
    if "?" in url_prefix or "#" in url_prefix:
        raise ValueError("url_prefix must not contain a query or fragment")


def _mac(key: bytes, message: str) -> str:
    if not key:
        raise ValueError("empty signing key")
    return _b64url_encode(hmac.new(key, message.encode("utf-8"), hashlib.sha1).digest())


def _prefix_policy(url_prefix: str, key_name: str, expires: int, sep: str) -> str:
    encoded = _b64url_encode(url_prefix.encode("utf-8"))
    return f"URLPrefix={encoded}{sep}Expires={expires}{sep}KeyName={key_name}"


def sign_url_prefix(
    url_prefix: str, key_name: str, key: bytes, expires_at: datetime
) -> str:
    """Query string ``URLPrefix=...&Expires=...&KeyName=...&Signature=...`` for a prefix."""
    _check_prefix(url_prefix)
    _check_key_name(key_name)
    policy = _prefix_policy(url_prefix, key_name, _expires(expires_at), "&")
    return f"{policy}&Signature={_mac(key, policy)}"


def sign_cookie(
    url_prefix: str, key_name: str, key: bytes, expires_at: datetime
) -> str:
    """Value of the ``Cloud-CDN-Cookie`` cookie (without the ``Cloud-CDN-Cookie=`` name)."""
    _check_prefix(url_prefix)
    _check_key_name(key_name)
    policy = _prefix_policy(url_prefix, key_name, _expires(expires_at), ":")
    return f"{policy}:Signature={_mac(key, policy)}"


def sign_url(url: str, key_name: str, key: bytes, expires_at: datetime) -> str:
    """The full signed URL for exactly ``url`` (its own query, if any, is kept and signed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("url must be absolute http(s)")
    if parts.fragment:
        raise ValueError("url must not contain a fragment")
    _check_key_name(key_name)
    present = {name for name, _ in _raw_pairs(parts.query)}
    if present & set(_SIGNING_PARAMS):
        raise ValueError("url already carries URLPrefix/Expires/KeyName/Signature")
    separator = "&" if parts.query else ("" if url.endswith("?") else "?")
    to_sign = f"{url}{separator}Expires={_expires(expires_at)}&KeyName={key_name}"
    return f"{to_sign}&Signature={_mac(key, to_sign)}"


def attach_signed_query(url: str, signed_query: str) -> str:
    """Append a ``sign_url_prefix`` query to ``url`` (e.g. a resolved segment URI)."""
    parts = urlsplit(url)
    if parts.fragment:
        url = url[: url.index("#")]
    return f"{url}{'&' if parts.query else '?'}{signed_query}"


# ------------------------------------------------------------------ verification


def _raw_pairs(query: str) -> Iterator[tuple[str, str]]:
    for item in query.split("&"):
        if item:
            name, _, value = item.partition("=")
            yield name, value


def _check_signature(key: bytes, message: str, provided: str) -> None:
    try:
        given = _b64url_decode(unquote(provided))
    except ValueError:
        raise CdnSignatureError("Signature is not base64url") from None
    expected = hmac.new(key, message.encode("utf-8"), hashlib.sha1).digest()
    if not hmac.compare_digest(given, expected):
        raise CdnSignatureError("bad signature")


def _check_expiry(expires_text: str, now: datetime) -> None:
    if not _DIGITS_RE.match(expires_text):
        raise CdnSignatureError("Expires is not a Unix timestamp")
    if int(now.timestamp()) >= int(expires_text):
        raise CdnSignatureError("signature expired")


def _lookup_key(keys: Mapping[str, bytes], key_name: str) -> bytes:
    key = keys.get(key_name)
    if key is None:
        raise CdnSignatureError(f"unknown key name {key_name!r}")
    return key


def _has_dot_segment(path: str) -> bool:
    decoded = unquote(path)
    return any(
        segment in (".", "..") for segment in decoded.replace("\\", "/").split("/")
    )


def _check_under_prefix(url_no_sig: str, encoded_prefix: str) -> None:
    try:
        prefix = _b64url_decode(encoded_prefix).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise CdnSignatureError("URLPrefix is not base64url") from None
    if not url_no_sig.startswith(prefix):
        raise CdnSignatureError("URL is not under the signed URLPrefix")


def _verify_query(
    base: str, query: str, keys: Mapping[str, bytes], now: datetime
) -> None:
    items = query.split("&")
    names = [item.partition("=")[0] for item in items]
    for param in _SIGNING_PARAMS:
        if names.count(param) > 1:
            raise CdnSignatureError(f"{param} appears more than once")
    if names[-1] != "Signature":
        raise CdnSignatureError("Signature must be the last query parameter")
    values = {name: item.partition("=")[2] for name, item in zip(names, items, strict=True)}
    if names[-4:-1] == ["URLPrefix", "Expires", "KeyName"]:
        key = _lookup_key(keys, values["KeyName"])
        _check_signature(key, "&".join(items[-4:-1]), values["Signature"])
        _check_expiry(values["Expires"], now)
        rest = "&".join(items[:-4])
        _check_under_prefix(f"{base}?{rest}" if rest else base, values["URLPrefix"])
        return
    if "URLPrefix" in values:
        raise CdnSignatureError(
            "URLPrefix must be followed by Expires, KeyName and Signature"
        )
    if names[-3:-1] == ["Expires", "KeyName"]:
        key = _lookup_key(keys, values["KeyName"])
        _check_signature(key, f"{base}?{'&'.join(items[:-1])}", values["Signature"])
        _check_expiry(values["Expires"], now)
        return
    raise CdnSignatureError("Expires and KeyName must directly precede Signature")


def _cookie_values(cookie_header: str) -> list[str]:
    found = []
    for item in cookie_header.split(";"):
        name, sep, value = item.strip().partition("=")
        if sep and name == COOKIE_NAME:
            found.append(value.strip().strip('"'))
    return found


def _verify_cookie(
    value: str, url: str, keys: Mapping[str, bytes], now: datetime
) -> None:
    fields = value.split(":")
    if len(fields) != 4:
        raise CdnSignatureError("malformed Cloud-CDN-Cookie")
    parsed = [field.partition("=") for field in fields]
    if [name for name, _, _ in parsed] != list(_SIGNING_PARAMS) or any(
        not sep for _, sep, _ in parsed
    ):
        raise CdnSignatureError(
            "Cloud-CDN-Cookie must be URLPrefix:Expires:KeyName:Signature"
        )
    values = {name: val for name, _, val in parsed}
    policy = ":".join(fields[:3])
    key = _lookup_key(keys, values["KeyName"])
    _check_signature(key, policy, values["Signature"])
    _check_expiry(values["Expires"], now)
    _check_under_prefix(url, values["URLPrefix"])


def verify_request(
    url: str,
    cookie_header: str | None,
    keys: Mapping[str, bytes],
    now: datetime,
    *,
    method: str = "GET",
) -> None:
    """Raise ``CdnSignatureError`` unless ``url`` is authorised by its query or a cookie.

    ``url`` is the full request URL as the CDN sees it (scheme, host, raw path and
    query). A ``Signature`` query parameter takes precedence; otherwise every
    ``Cloud-CDN-Cookie`` in ``cookie_header`` is tried and one valid cookie suffices.
    Signatures are compared in constant time. Paths with ``.``/``..`` segments are
    refused so that a prefix cannot be escaped by a client that does not normalise.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if method.upper() not in ("GET", "HEAD"):
        raise CdnSignatureError("signed requests must be GET or HEAD")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CdnSignatureError("URL must be absolute http(s)")
    if parts.fragment:
        url = url[: url.index("#")]
    if _has_dot_segment(parts.path):
        raise CdnSignatureError("URL path contains dot segments")

    base, _, query = url.partition("?")
    pairs = list(_raw_pairs(query))
    if any(name == "Signature" for name, _ in pairs):
        _verify_query(base, query, keys, now)
        return
    if any(name in _SIGNING_PARAMS for name, _ in pairs):
        raise CdnSignatureError("signing parameters present but no Signature")

    cookies = _cookie_values(cookie_header or "")
    if not cookies:
        raise CdnSignatureError(
            "missing signature: no Signature parameter and no Cloud-CDN-Cookie"
        )
    first_error: CdnSignatureError | None = None
    for value in cookies:
        try:
            _verify_cookie(value, url, keys, now)
            return
        except CdnSignatureError as exc:
            first_error = first_error or exc
    assert first_error is not None
    raise first_error
