"""Verify Cloud Storage V4 signed URLs the way Cloud Storage does.

fake-gcs-server accepts any signed URL without checking it, so the local
gateway calls :func:`verify_v4_request` first and answers with
:func:`gcs_error_xml` when it raises :class:`SignatureRejected`.

The canonical request is rebuilt from the request as received (V4 signing
process, https://cloud.google.com/storage/docs/authentication/canonical-requests)::

    HTTP_VERB \\n PATH \\n CANONICAL_QUERY \\n CANONICAL_HEADERS \\n \\n SIGNED_HEADERS \\n PAYLOAD

and the string to sign is ``GOOG4-RSA-SHA256 \\n X-Goog-Date \\n scope \\n
hex(sha256(canonical request))``, with the scope ``DATE/REGION/storage/goog4_request``.
The signature is RSA PKCS#1 v1.5 over SHA-256, hex-encoded.

Notes on how this agrees with ``google-cloud-storage`` (3.x ``_signing.py``):

* host: the client signs ``urlparse(api_access_endpoint).netloc`` verbatim, so with
  ``api_access_endpoint="http://127.0.0.1:8081"`` the signed ``host`` is
  ``127.0.0.1:8081`` (port kept). HTTP clients send the same value in ``Host`` for
  a non-default port, so the verifier uses the received ``Host`` value as is
  (whitespace trimmed). An endpoint written with its default port (``:80``/``:443``)
  is signed with the port while clients usually drop it from ``Host``; that URL
  fails here as it would against Cloud Storage.
* path: the client quotes object names with ``quote(name, safe="/~")``. The verifier
  percent-decodes the raw request path to bytes and re-quotes it the same way, so
  ``%c3%a9`` and ``%C3%A9`` canonicalise alike. Pass the RAW path (still
  percent-encoded, e.g. werkzeug's ``RAW_URI``/``REQUEST_URI``), not a decoded one.
* query: every parameter except ``X-Goog-Signature`` is decoded and re-encoded with
  RFC 3986 unreserved characters left alone (``quote(v, safe="~")``); ``+`` is a
  literal plus, not a space. Parameters are sorted by name, then value, as the
  documentation says. (The Python client sorts the joined ``name=value`` strings;
  the two orders differ only when one parameter name is a prefix of another and
  the next character sorts below ``=``.)
* headers: names lower-cased, values trimmed with inner whitespace runs collapsed
  to one space, repeated headers joined with ``,``.

Error codes and messages (see ``gcs_error_xml``) were taken from responses quoted
in public issue threads and test fixtures, since the documentation has no list:
``SignatureDoesNotMatch`` (403), ``ExpiredToken`` / "Invalid argument." with
"The provided token has expired. Request signature expired at: ..." (HTTP 400, not
403), ``MalformedSecurityHeader`` / "Your request has a malformed header." (400,
with ``ParameterName`` and ``Details``), ``AccessDenied`` / "Access denied." (403,
anonymous caller). Where no real response was found (future ``X-Goog-Date``,
unknown signer) the code chosen is stated next to the check.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote_to_bytes
from xml.sax.saxutils import escape

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = [
    "ALGORITHM",
    "ERROR_CONTENT_TYPE",
    "MAX_EXPIRES_SECONDS",
    "PublicKeyLookup",
    "SignatureRejected",
    "VerifiedRequest",
    "canonical_query_string",
    "canonical_resource_path",
    "gcs_error_xml",
    "verify_v4_request",
]

ALGORITHM = "GOOG4-RSA-SHA256"
HMAC_ALGORITHM = "GOOG4-HMAC-SHA256"
MAX_EXPIRES_SECONDS = 604_800  # seven days
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ERROR_CONTENT_TYPE = "application/xml; charset=UTF-8"
DEFAULT_CLOCK_SKEW = timedelta(minutes=15)

_P_ALGORITHM = "x-goog-algorithm"
_P_CREDENTIAL = "x-goog-credential"
_P_DATE = "x-goog-date"
_P_EXPIRES = "x-goog-expires"
_P_SIGNED_HEADERS = "x-goog-signedheaders"
_P_SIGNATURE = "x-goog-signature"
_REQUIRED = (
    _P_ALGORITHM,
    _P_CREDENTIAL,
    _P_DATE,
    _P_EXPIRES,
    _P_SIGNED_HEADERS,
    _P_SIGNATURE,
)

_DATE_RE = re.compile(r"\A\d{8}T\d{6}Z\Z")
_DATESTAMP_RE = re.compile(r"\A\d{8}\Z")
_HEX_RE = re.compile(r"\A(?:[0-9a-fA-F]{2})+\Z")
_HEADER_NAME_RE = re.compile(r"\A[!#$%&'*+\-.^_`|~0-9a-z/]+\Z")

_MSG_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your Google secret key and signing method."
)
_MSG_MALFORMED = "Your request has a malformed header."
_MSG_INVALID_ARGUMENT = "Invalid argument."
_MSG_ACCESS_DENIED = "Access denied."

PublicKeyLookup = Callable[[str], "RSAPublicKey | Sequence[RSAPublicKey] | None"]


class SignatureRejected(Exception):
    """The request must be refused; ``status`` is the HTTP status Cloud Storage uses.

    ``reason`` is a one-line explanation for logs and tests; ``code``, ``message``,
    ``details``, ``parameter`` and ``extra`` feed the XML error body.
    """

    def __init__(
        self,
        reason: str,
        status: int,
        *,
        code: str,
        message: str,
        details: str | None = None,
        parameter: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.parameter = parameter
        self.extra: dict[str, str] = dict(extra or {})

    def __repr__(self) -> str:
        return f"SignatureRejected(status={self.status}, code={self.code!r}, reason={self.reason!r})"


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What a valid signature vouches for."""

    client_email: str
    method: str
    signed_method: str
    host: str
    resource_path: str
    """Decoded path (``/bucket/object`` path-style, ``/object`` virtual-hosted)."""
    signed_headers: tuple[str, ...]
    request_time: datetime
    expires_at: datetime
    query: Mapping[str, str] = field(default_factory=dict)
    """Decoded query parameters other than the ``X-Goog-*`` signing ones."""
    payload_sha256: str | None = None
    """Value of a signed ``x-goog-content-sha256`` header; the caller must check the body."""


def gcs_error_xml(error: SignatureRejected) -> str:
    """Render the XML error body Cloud Storage returns for ``error``.

    Serve it with ``error.status`` and ``Content-Type: ERROR_CONTENT_TYPE``.
    """
    parts = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        "<Error>",
        f"<Code>{escape(error.code)}</Code>",
        f"<Message>{escape(error.message)}</Message>",
    ]
    if error.parameter is not None:
        parts.append(f"<ParameterName>{escape(error.parameter)}</ParameterName>")
    if error.details is not None:
        parts.append(f"<Details>{escape(error.details)}</Details>")
    for tag, text in error.extra.items():
        parts.append(f"<{tag}>{escape(text)}</{tag}>")
    parts.append("</Error>")
    return "".join(parts)


# --------------------------------------------------------------------------- errors


def _malformed(parameter: str, details: str) -> SignatureRejected:
    return SignatureRejected(
        f"malformed {parameter}: {details}",
        400,
        code="MalformedSecurityHeader",
        message=_MSG_MALFORMED,
        details=details,
        parameter=parameter,
    )


def _mismatch(
    reason: str, string_to_sign: str, canonical_request: str
) -> SignatureRejected:
    return SignatureRejected(
        reason,
        403,
        code="SignatureDoesNotMatch",
        message=_MSG_SIGNATURE,
        extra={"StringToSign": string_to_sign, "CanonicalRequest": canonical_request},
    )


# ------------------------------------------------------------------ canonical forms


def canonical_resource_path(raw_path: str) -> str:
    """Percent-encode a raw request path the way the client library signs it."""
    if not raw_path.startswith("/"):
        raise _malformed("path", "Request path must start with '/'.")
    return quote(unquote_to_bytes(raw_path), safe="/~")


def _split_query(raw_query: str) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    if not raw_query:
        return pairs
    for item in raw_query.split("&"):
        if item == "":
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def canonical_query_string(pairs: Sequence[tuple[bytes, bytes]]) -> str:
    """Encode, sort (by name, then value) and join decoded query parameters."""
    encoded = sorted(
        (quote(name, safe="~"), quote(value, safe="~")) for name, value in pairs
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def _fold_headers(headers: Mapping[str, str]) -> dict[str, str]:
    folded: dict[str, list[str]] = {}
    for name, value in headers.items():
        folded.setdefault(name.strip().lower(), []).append(" ".join(str(value).split()))
    return {name: ",".join(values) for name, values in folded.items()}


# ------------------------------------------------------------------------ verifier


def _decode_text(raw: bytes, parameter: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(parameter, "Parameter is not valid UTF-8.") from None


def _parse_credential(credential: str) -> tuple[str, str, str]:
    """``EMAIL/DATE/REGION/storage/goog4_request`` -> (email, datestamp, scope)."""
    pieces = credential.rsplit("/", 4)
    if len(pieces) != 5 or any(piece == "" for piece in pieces):
        raise _malformed(
            "x-goog-credential",
            "Credential must have the form ACCESS_ID/DATE/LOCATION/storage/goog4_request.",
        )
    email, datestamp, region, service, terminator = pieces
    if not _DATESTAMP_RE.match(datestamp):
        raise _malformed(
            "x-goog-credential", f"Credential date {datestamp!r} is not YYYYMMDD."
        )
    if service != "storage" or terminator != "goog4_request":
        raise _malformed(
            "x-goog-credential",
            f"Credential scope must end in storage/goog4_request, got {service}/{terminator}.",
        )
    if "@" not in email:
        raise _malformed(
            "x-goog-credential", "Credential access ID is not a service account email."
        )
    return email, datestamp, f"{datestamp}/{region}/{service}/{terminator}"


def _keys_for(public_keys: PublicKeyLookup, email: str) -> list[RSAPublicKey]:
    found = public_keys(email)
    if found is None:
        return []
    if isinstance(found, RSAPublicKey):
        return [found]
    return list(found)


def _rsa_matches(
    keys: Sequence[RSAPublicKey], signature: bytes, message: bytes
) -> bool:
    for key in keys:
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False


def verify_v4_request(
    method: str,
    host: str,
    path: str,
    raw_query: str,
    headers: Mapping[str, str],
    public_keys: PublicKeyLookup,
    now: datetime,
    *,
    max_clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> VerifiedRequest:
    """Check a V4 signed-URL request; return what it authorises or raise ``SignatureRejected``.

    ``host`` is the received ``Host`` header, ``path`` the raw (percent-encoded) path,
    ``raw_query`` the raw query string without ``?``. ``public_keys(email)`` returns
    the service account's public key (or several, for key rotation) or ``None``.

    Order of checks: signing parameters present and well formed (400), credential
    scope agrees with ``X-Goog-Date`` (400), not before ``X-Goog-Date`` (403), not
    expired (400 ``ExpiredToken``; checked before the signature, as Cloud Storage
    reports expiry even for a garbage signature), every signed header present and no
    unsigned ``x-goog-*`` header (400), then the RSA signature (403).

    A ``HEAD`` request is also accepted with a URL signed for ``GET`` (the .NET
    client's ``UrlSigner`` documents that both work).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    method = method.upper()

    pairs = _split_query(raw_query)
    signing: dict[str, str] = {}
    others: list[tuple[bytes, bytes]] = []
    for raw_name, raw_value in pairs:
        lname = raw_name.decode("latin-1").lower()
        if lname in _REQUIRED:
            if lname in signing:
                raise _malformed(lname, f"Parameter {lname} appears more than once.")
            signing[lname] = _decode_text(raw_value, lname)
        if lname != _P_SIGNATURE:
            others.append((raw_name, raw_value))

    if not signing:
        # No signing parameters at all: an anonymous request to a private bucket.
        raise SignatureRejected(
            "request carries no signature",
            403,
            code="AccessDenied",
            message=_MSG_ACCESS_DENIED,
            details="Anonymous caller does not have storage.objects.get access to the "
            "Google Cloud Storage object.",
        )
    for name in _REQUIRED:
        if name not in signing or signing[name] == "":
            raise _malformed(name, f"Missing required query parameter {name}.")

    algorithm = signing[_P_ALGORITHM]
    if algorithm == HMAC_ALGORITHM:
        raise _malformed(
            _P_ALGORITHM,
            "GOOG4-HMAC-SHA256 (HMAC keys) is not supported by the local emulator.",
        )
    if algorithm != ALGORITHM:
        raise _malformed(_P_ALGORITHM, f"Unsupported signing algorithm {algorithm!r}.")

    email, datestamp, scope = _parse_credential(signing[_P_CREDENTIAL])

    goog_date = signing[_P_DATE]
    if not _DATE_RE.match(goog_date):
        raise _malformed(
            _P_DATE, "X-Goog-Date must have the form YYYYMMDD'T'HHMMSS'Z'."
        )
    try:
        request_time = datetime.strptime(goog_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=UTC
        )
    except ValueError:
        raise _malformed(
            _P_DATE, f"X-Goog-Date {goog_date!r} is not a valid time."
        ) from None
    if goog_date[:8] != datestamp:
        raise _malformed(
            _P_CREDENTIAL,
            f"Credential date {datestamp} does not match X-Goog-Date {goog_date}.",
        )

    expires_text = signing[_P_EXPIRES]
    if not expires_text.isascii() or not expires_text.isdigit():
        raise _malformed(
            _P_EXPIRES,
            f"X-Goog-Expires {expires_text!r} is not a whole number of seconds.",
        )
    expires_seconds = int(expires_text)
    if expires_seconds < 1:
        raise _malformed(_P_EXPIRES, "X-Goog-Expires must be at least 1 second.")
    if expires_seconds > MAX_EXPIRES_SECONDS:
        raise _malformed(
            _P_EXPIRES,
            f"X-Goog-Expires {expires_seconds} exceeds the maximum of {MAX_EXPIRES_SECONDS} seconds (7 days).",
        )
    expires_at = request_time + timedelta(seconds=expires_seconds)

    signature_hex = signing[_P_SIGNATURE]
    if not _HEX_RE.match(signature_hex):
        raise _malformed(_P_SIGNATURE, "X-Goog-Signature is not hex encoded.")

    signed_headers_text = signing[_P_SIGNED_HEADERS]
    signed_headers = tuple(signed_headers_text.split(";"))
    if any(not _HEADER_NAME_RE.match(name) for name in signed_headers):
        raise _malformed(
            _P_SIGNED_HEADERS,
            "X-Goog-SignedHeaders must be lower-case header names joined by ';'.",
        )
    if "host" not in signed_headers:
        raise _malformed(_P_SIGNED_HEADERS, "The host header must be signed.")

    # Time window. No public sample of Cloud Storage's answer to a URL used before its
    # X-Goog-Date was found; 403 AccessDenied is this emulator's choice.
    if request_time - now > max_clock_skew:
        raise SignatureRejected(
            "X-Goog-Date is in the future",
            403,
            code="AccessDenied",
            message=_MSG_ACCESS_DENIED,
            details=f"The signed URL is not valid before {request_time.isoformat()}.",
        )
    if now > expires_at:
        raise SignatureRejected(
            "signed URL has expired",
            400,
            code="ExpiredToken",
            message=_MSG_INVALID_ARGUMENT,
            details="The provided token has expired. Request signature expired at: "
            f"{expires_at.isoformat()}",
        )

    # Headers: every signed one must be present; no unsigned x-goog-* extension header.
    received = _fold_headers(headers)
    received["host"] = " ".join(host.split())
    if received["host"] == "":
        raise _malformed(
            "host", "Header was included in signedheaders, but not in the request."
        )
    for name in signed_headers:
        if name not in received:
            raise _malformed(
                name, "Header was included in signedheaders, but not in the request."
            )
    for name in received:
        if name.startswith("x-goog-") and name not in signed_headers:
            raise _malformed(name, "Header was not included in signedheaders.")

    canonical_headers = "".join(
        f"{name}:{received[name]}\n" for name in sorted(signed_headers)
    )
    payload = received.get("x-goog-content-sha256", UNSIGNED_PAYLOAD)
    resource = canonical_resource_path(path)
    query = canonical_query_string(others)

    def string_to_sign_for(verb: str) -> tuple[str, str]:
        canonical_request = f"{verb}\n{resource}\n{query}\n{canonical_headers}\n{signed_headers_text}\n{payload}"
        digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
        return f"{ALGORITHM}\n{goog_date}\n{scope}\n{digest}", canonical_request

    keys = _keys_for(public_keys, email)
    signature = binascii.unhexlify(signature_hex)
    candidates = [method, "GET"] if method == "HEAD" else [method]
    first: tuple[str, str] | None = None
    for verb in candidates:
        string_to_sign, canonical_request = string_to_sign_for(verb)
        first = first or (string_to_sign, canonical_request)
        if _rsa_matches(keys, signature, string_to_sign.encode("utf-8")):
            return VerifiedRequest(
                client_email=email,
                method=method,
                signed_method=verb,
                host=received["host"],
                resource_path=unquote_to_bytes(path).decode("utf-8", "replace"),
                signed_headers=signed_headers,
                request_time=request_time,
                expires_at=expires_at,
                query={
                    name.decode("utf-8", "replace"): value.decode("utf-8", "replace")
                    for name, value in others
                    if name.decode("latin-1").lower() not in _REQUIRED
                },
                payload_sha256=received.get("x-goog-content-sha256"),
            )
    assert first is not None
    # An unknown service account is reported as a signature mismatch: no key of that
    # account verifies the signature (no sample of Cloud Storage's answer was found).
    reason = "no public key for signer" if not keys else "signature does not match"
    raise _mismatch(reason, *first)
