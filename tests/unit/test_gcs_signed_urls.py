"""V4 signed-URL verification against URLs made by the real google-cloud-storage client.

The oracle is ``Blob.generate_signed_url(version="v4", ...)`` with a throwaway RSA key;
the known-answer cases are Google's cross-language conformance vectors.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import SplitResult, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from google.cloud import storage
from google.oauth2 import service_account

from local_emulator.gcs_signed_urls import (
    SignatureRejected,
    VerifiedRequest,
    canonical_resource_path,
    gcs_error_xml,
    verify_v4_request,
)

ENDPOINT = "http://127.0.0.1:8081"
HOST = "127.0.0.1:8081"
BUCKET = "kstream-uploads"
SA_EMAIL = "uploader@kstream-test.iam.gserviceaccount.com"
TTL = timedelta(minutes=15)


def _private_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sa_info(key: RSAPrivateKey, email: str = SA_EMAIL) -> dict[str, str]:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": "kstream-test",
        "private_key_id": "0" * 40,
        "private_key": pem,
        "client_email": email,
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


@pytest.fixture(scope="module")
def sa_key() -> RSAPrivateKey:
    return _private_key()


@pytest.fixture(scope="module")
def other_key() -> RSAPrivateKey:
    return _private_key()


@pytest.fixture(scope="module")
def credentials(sa_key: RSAPrivateKey) -> service_account.Credentials:
    return service_account.Credentials.from_service_account_info(_sa_info(sa_key))


@pytest.fixture(scope="module")
def bucket() -> storage.Bucket:
    # Anonymous: a client with service-account credentials would try to fetch tokens.
    return storage.Client.create_anonymous_client().bucket(BUCKET)


@pytest.fixture(scope="module")
def keys(sa_key: RSAPrivateKey):  # type: ignore[no-untyped-def]
    public = sa_key.public_key()

    def lookup(email: str) -> RSAPublicKey | None:
        return public if email == SA_EMAIL else None

    return lookup


@pytest.fixture
def sign(bucket: storage.Bucket, credentials: service_account.Credentials):  # type: ignore[no-untyped-def]
    def _sign(
        name: str = "raw/ep-0001/source.mp4", method: str = "GET", **kwargs: object
    ) -> SplitResult:
        kwargs.setdefault("expiration", TTL)
        headers = kwargs.pop("headers", None)
        assert headers is None or isinstance(headers, dict)
        url = bucket.blob(name).generate_signed_url(
            version="v4",
            method=method,
            credentials=credentials,
            api_access_endpoint=kwargs.pop("api_access_endpoint", ENDPOINT),
            headers=dict(headers) if headers else None,  # the client mutates the dict
            **kwargs,
        )
        return urlsplit(url)

    return _sign


def _verify(
    parts: SplitResult,
    method: str,
    keys,  # type: ignore[no-untyped-def]
    headers: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
    host: str | None = None,
    path: str | None = None,
    query: str | None = None,
) -> VerifiedRequest:
    return verify_v4_request(
        method,
        host if host is not None else parts.netloc,
        path if path is not None else parts.path,
        query if query is not None else parts.query,
        headers or {},
        keys,
        now or datetime.now(UTC),
    )


def _rejected(
    excinfo: pytest.ExceptionInfo[SignatureRejected], status: int, code: str
) -> None:
    assert (excinfo.value.status, excinfo.value.code) == (status, code), (
        excinfo.value.reason
    )


OBJECT_NAMES = [
    "raw/ep-0001/source.mp4",
    "raw/ep-0001/episode 01 final.mp4",
    "드라마/사랑의 불시착/01화.mp4",
    "odd/a+b&c=d;e,f@g$h'i(j)!*.ts",
    "percent/100%25 done/~tilde_.-",
    "deep/a/b/c/d/e/f/g/h.m4s",
]


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", OBJECT_NAMES)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_round_trip(sign, keys, name: str, method: str) -> None:  # type: ignore[no-untyped-def]
    parts = sign(name, method)
    verified = _verify(parts, method, keys)
    assert verified.client_email == SA_EMAIL
    assert verified.resource_path == f"/{BUCKET}/{name}"
    assert verified.signed_headers == ("host",)
    assert verified.expires_at - verified.request_time == TTL


def test_host_is_signed_with_its_port(sign, keys) -> None:  # type: ignore[no-untyped-def]
    """The client signs urlparse(api_access_endpoint).netloc, i.e. host:port."""
    parts = sign()
    assert parts.netloc == HOST
    assert _verify(parts, "GET", keys).host == HOST
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, host="127.0.0.1")
    _rejected(excinfo, 403, "SignatureDoesNotMatch")
    assert "host:127.0.0.1\n" in excinfo.value.extra["CanonicalRequest"]


def test_virtual_hosted_style(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(
        "a/b c.mp4",
        api_access_endpoint="http://storage.localhost:8081",
        virtual_hosted_style=True,
    )
    assert parts.netloc == f"{BUCKET}.storage.localhost:8081"
    assert _verify(parts, "GET", keys).resource_path == "/a/b c.mp4"
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, host="other-bucket.storage.localhost:8081")
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


def test_path_encoding_variants_canonicalise_alike(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign("드라마/01화.mp4")
    assert "%EB" in parts.path
    assert parts.path.lower() != parts.path
    _verify(parts, "GET", keys, path=parts.path.lower())  # lower-case hex digits
    assert canonical_resource_path("/b/%7Etilde%20x") == "/b/~tilde%20x"


def test_head_is_allowed_with_a_get_signature(sign, keys) -> None:  # type: ignore[no-untyped-def]
    verified = _verify(sign(method="GET"), "HEAD", keys)
    assert (verified.method, verified.signed_method) == ("HEAD", "GET")


def test_resumable_start(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(method="RESUMABLE", content_type="video/mp4")
    _verify(
        parts, "POST", keys, {"x-goog-resumable": "start", "Content-Type": "video/mp4"}
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "POST", keys, {"Content-Type": "video/mp4"})
    _rejected(excinfo, 400, "MalformedSecurityHeader")


def test_query_parameters_round_trip(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(
        response_disposition='attachment; filename="01화 final.mp4"',
        response_type="video/mp4",
        generation=1700000000000001,
        query_parameters={"userProject": "kstream-test", "soufflé": "=%-_.~ +"},
    )
    verified = _verify(parts, "GET", keys)
    assert (
        verified.query["response-content-disposition"]
        == 'attachment; filename="01화 final.mp4"'
    )
    assert verified.query["generation"] == "1700000000000001"
    assert verified.query["soufflé"] == "=%-_.~ +"


# ------------------------------------------------------- bound headers (PUT)

BOUND = {
    "content_type": ("Content-Type", "video/mp4"),
    "content_md5": ("Content-MD5", "XrY7u+Ae7tCTyyK7j1rNww=="),
}


@pytest.mark.parametrize("arg", sorted(BOUND))
def test_bound_header_matching_passes(sign, keys, arg: str) -> None:  # type: ignore[no-untyped-def]
    header, value = BOUND[arg]
    parts = sign(method="PUT", **{arg: value})
    verified = _verify(parts, "PUT", keys, {header: value})
    assert header.lower() in verified.signed_headers
    # Header names are case-insensitive; surrounding whitespace is trimmed.
    _verify(parts, "PUT", keys, {header.upper(): f"  {value} "})


@pytest.mark.parametrize("arg", sorted(BOUND))
def test_bound_header_different_value_fails(sign, keys, arg: str) -> None:  # type: ignore[no-untyped-def]
    header, value = BOUND[arg]
    parts = sign(method="PUT", **{arg: value})
    other = (
        "application/octet-stream"
        if header == "Content-Type"
        else "1B2M2Y8AsgTpgAmY7PhCfg=="
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "PUT", keys, {header: other})
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("arg", sorted(BOUND))
def test_bound_header_missing_fails(sign, keys, arg: str) -> None:  # type: ignore[no-untyped-def]
    header, value = BOUND[arg]
    parts = sign(method="PUT", **{arg: value})
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "PUT", keys, {})
    _rejected(excinfo, 400, "MalformedSecurityHeader")
    assert excinfo.value.parameter == header.lower()
    assert "signedheaders, but not in the request" in (excinfo.value.details or "")


def test_custom_metadata_header_bound(sign, keys) -> None:  # type: ignore[no-untyped-def]
    meta = {"x-goog-meta-episode-id": "ep-0001", "x-goog-meta-uploader": "uid-42"}
    parts = sign(method="PUT", content_type="video/mp4", headers=meta)
    base = {"Content-Type": "video/mp4", **meta}
    assert _verify(parts, "PUT", keys, base).signed_headers == (
        "content-type",
        "host",
        "x-goog-meta-episode-id",
        "x-goog-meta-uploader",
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "PUT", keys, {**base, "x-goog-meta-episode-id": "ep-0002"})
    _rejected(excinfo, 403, "SignatureDoesNotMatch")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(
            parts,
            "PUT",
            keys,
            {k: v for k, v in base.items() if k != "x-goog-meta-uploader"},
        )
    _rejected(excinfo, 400, "MalformedSecurityHeader")


@pytest.mark.parametrize(
    "extra",
    [
        {"x-goog-hash": "md5=XrY7u+Ae7tCTyyK7j1rNww=="},
        {"X-Goog-Meta-Injected": "1"},
        {"x-goog-content-length-range": "0,1000"},
        {"x-goog-acl": "public-read"},
    ],
)
def test_unsigned_extension_header_is_refused(
    sign, keys, extra: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    parts = sign(method="PUT", content_type="video/mp4")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "PUT", keys, {"Content-Type": "video/mp4", **extra})
    _rejected(excinfo, 400, "MalformedSecurityHeader")
    assert excinfo.value.parameter == next(iter(extra)).lower()


def test_unsigned_standard_headers_are_ignored(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(method="PUT")
    _verify(
        parts,
        "PUT",
        keys,
        {"Content-Type": "video/mp4", "User-Agent": "hls.js", "Content-Length": "10"},
    )


def test_signed_payload_hash_is_reported(sign, keys) -> None:  # type: ignore[no-untyped-def]
    digest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    parts = sign(method="PUT", headers={"x-goog-content-sha256": digest})
    verified = _verify(parts, "PUT", keys, {"X-Goog-Content-SHA256": digest})
    assert verified.payload_sha256 == digest


def test_query_order_does_not_matter(sign, keys) -> None:  # type: ignore[no-untyped-def]
    """The canonical query string is sorted, so a proxy reordering parameters is harmless."""
    parts = sign(generation=5, query_parameters={"userProject": "kstream-test"})
    reordered = "&".join(reversed(parts.query.split("&")))
    assert reordered != parts.query
    _verify(parts, "GET", keys, query=reordered)


def test_host_must_be_among_signed_headers(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    query = _replace_param(parts.query, "X-Goog-SignedHeaders", "user-agent")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, {"User-Agent": "curl"}, query=query)
    _rejected(excinfo, 400, "MalformedSecurityHeader")
    assert excinfo.value.parameter == "x-goog-signedheaders"


# ------------------------------------------------------------------ tampering


@pytest.mark.parametrize(
    "suffix",
    ["&generation=1", "&userProject=attacker", "&X-Goog-Meta-Foo=bar", "&acl"],
)
def test_appended_query_parameter_fails(sign, keys, suffix: str) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, query=parts.query + suffix)
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


def test_changed_or_removed_query_parameter_fails(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(response_disposition="attachment", generation=5)
    for query in (
        parts.query.replace("generation=5", "generation=6"),
        parts.query.replace("&generation=5", ""),
        parts.query.replace("X-Goog-Expires=900", "X-Goog-Expires=901"),
    ):
        assert query != parts.query
        with pytest.raises(SignatureRejected) as excinfo:
            _verify(parts, "GET", keys, query=query)
        _rejected(excinfo, 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    "path",
    [
        "/kstream-uploads/raw/ep-0001/source.mp5",
        "/kstream-uploads/raw/ep-0002/source.mp4",
        "/other-bucket/raw/ep-0001/source.mp4",
        "/kstream-uploads/raw/ep-0001/source.mp4/",
        "/kstream-uploads/raw/ep-0001%2Fsource.mp4x",
    ],
)
def test_changed_path_fails(sign, keys, path: str) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, path=path)
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize(
    ("signed", "used"),
    [
        ("GET", "PUT"),
        ("PUT", "GET"),
        ("GET", "DELETE"),
        ("PUT", "POST"),
        ("PUT", "HEAD"),
    ],
)
def test_changed_method_fails(sign, keys, signed: str, used: str) -> None:  # type: ignore[no-untyped-def]
    parts = sign(method=signed)
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, used, keys)
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


def test_flipped_signature_digit_fails(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    head, _, sig = parts.query.rpartition("X-Goog-Signature=")
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, query=f"{head}X-Goog-Signature={flipped}")
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


# ---------------------------------------------------------------- time window


def test_expired_fails_with_expired_token(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(expiration=timedelta(seconds=60))
    verified = _verify(parts, "GET", keys)
    _verify(parts, "GET", keys, now=verified.expires_at)  # last valid second
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, now=verified.expires_at + timedelta(seconds=1))
    _rejected(excinfo, 400, "ExpiredToken")
    assert excinfo.value.message == "Invalid argument."
    assert verified.expires_at.isoformat() in (excinfo.value.details or "")


def test_expiry_is_checked_before_the_signature(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(expiration=timedelta(seconds=60))
    head = parts.query.rpartition("X-Goog-Signature=")[0]
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(
            parts,
            "GET",
            keys,
            query=f"{head}X-Goog-Signature=00",
            now=datetime.now(UTC) + timedelta(hours=1),
        )
    _rejected(excinfo, 400, "ExpiredToken")


def test_future_dated_fails(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    now = datetime.now(UTC)
    _verify(parts, "GET", keys, now=now - timedelta(minutes=14))  # within clock skew
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, now=now - timedelta(hours=1))
    _rejected(excinfo, 403, "AccessDenied")


def test_seven_day_url_is_accepted_and_longer_is_malformed(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign(expiration=timedelta(days=7))
    assert "X-Goog-Expires=604800" in parts.query
    _verify(parts, "GET", keys, now=datetime.now(UTC) + timedelta(days=6, hours=23))
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(
            parts,
            "GET",
            keys,
            query=parts.query.replace("X-Goog-Expires=604800", "X-Goog-Expires=604801"),
        )
    _rejected(excinfo, 400, "MalformedSecurityHeader")


# ------------------------------------------------------------------------ keys


def test_wrong_key_fails(bucket, keys, other_key: RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    impostor = service_account.Credentials.from_service_account_info(
        _sa_info(other_key)
    )
    url = bucket.blob("raw/ep-0001/source.mp4").generate_signed_url(
        version="v4", expiration=TTL, credentials=impostor, api_access_endpoint=ENDPOINT
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(urlsplit(url), "GET", keys)
    _rejected(excinfo, 403, "SignatureDoesNotMatch")


def test_unknown_signer_fails(bucket, keys, sa_key: RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    stranger = service_account.Credentials.from_service_account_info(
        _sa_info(sa_key, email="someone@else.iam.gserviceaccount.com")
    )
    url = bucket.blob("x").generate_signed_url(
        version="v4", expiration=TTL, credentials=stranger, api_access_endpoint=ENDPOINT
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(urlsplit(url), "GET", keys)
    _rejected(excinfo, 403, "SignatureDoesNotMatch")
    assert excinfo.value.reason == "no public key for signer"


def test_rotated_keys(sign, sa_key: RSAPrivateKey, other_key: RSAPrivateKey) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    _verify(parts, "GET", lambda email: [other_key.public_key(), sa_key.public_key()])
    with pytest.raises(SignatureRejected):
        _verify(parts, "GET", lambda email: [other_key.public_key()])


# ------------------------------------------------------------ malformed input


def _replace_param(query: str, name: str, value: str | None) -> str:
    items = []
    for item in query.split("&"):
        if item.partition("=")[0] == name:
            if value is None:
                continue
            item = f"{name}={value}"
        items.append(item)
    return "&".join(items)


def _today() -> str:
    return datetime.now(UTC).strftime("%Y%m%d")


@pytest.mark.parametrize(
    "credential",
    [
        "not-a-credential",
        f"{SA_EMAIL}%2F{{today}}%2Fauto%2Fstorage",
        f"{SA_EMAIL}%2F{{today}}%2Fauto%2Fs3%2Fgoog4_request",
        f"{SA_EMAIL}%2F{{today}}%2Fauto%2Fstorage%2Faws4_request",
        f"{SA_EMAIL}%2F2026-11-27%2Fauto%2Fstorage%2Fgoog4_request",
        f"{SA_EMAIL}%2F19990101%2Fauto%2Fstorage%2Fgoog4_request",  # date differs from X-Goog-Date
        "%2F{today}%2Fauto%2Fstorage%2Fgoog4_request",
        "uploader%2F{today}%2Fauto%2Fstorage%2Fgoog4_request",
        "",
    ],
)
def test_malformed_credential_is_400(sign, keys, credential: str) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    query = _replace_param(
        parts.query, "X-Goog-Credential", credential.format(today=_today())
    )
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, query=query)
    _rejected(excinfo, 400, "MalformedSecurityHeader")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Goog-Algorithm", "GOOG4-RSA-SHA1"),
        ("X-Goog-Algorithm", "GOOG4-HMAC-SHA256"),
        ("X-Goog-Algorithm", None),
        ("X-Goog-Date", "2026-11-27T12:00:00Z"),
        ("X-Goog-Date", "20261327T120000Z"),
        ("X-Goog-Date", None),
        ("X-Goog-Expires", "ten"),
        ("X-Goog-Expires", "-5"),
        ("X-Goog-Expires", "0"),
        ("X-Goog-Expires", "999999999"),
        ("X-Goog-SignedHeaders", "content-type"),
        ("X-Goog-SignedHeaders", "Host"),
        ("X-Goog-SignedHeaders", None),
        ("X-Goog-Signature", "not-hex"),
        ("X-Goog-Signature", "abc"),
        ("X-Goog-Signature", None),
    ],
)
def test_malformed_signing_parameter_is_400(
    sign, keys, name: str, value: str | None
) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    query = _replace_param(parts.query, name, value)
    assert query != parts.query
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, query=query)
    _rejected(excinfo, 400, "MalformedSecurityHeader")


@pytest.mark.parametrize(
    "param", ["X-Goog-Signature", "X-Goog-Date", "x-goog-credential"]
)
def test_duplicate_signing_parameter_is_400(sign, keys, param: str) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "GET", keys, query=f"{parts.query}&{param}=00")
    _rejected(excinfo, 400, "MalformedSecurityHeader")


def test_unsigned_request_is_anonymous_and_denied(keys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SignatureRejected) as excinfo:
        verify_v4_request(
            "GET", HOST, f"/{BUCKET}/x.mp4", "alt=media", {}, keys, datetime.now(UTC)
        )
    _rejected(excinfo, 403, "AccessDenied")


def test_naive_now_is_a_programming_error(sign, keys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        _verify(sign(), "GET", keys, now=datetime.now())


# ------------------------------------------------------------------- XML body


def test_error_xml_body(sign, keys) -> None:  # type: ignore[no-untyped-def]
    parts = sign()
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(parts, "PUT", keys)
    body = gcs_error_xml(excinfo.value)
    assert body.startswith("<?xml version='1.0' encoding='UTF-8'?><Error>")
    root = ET.fromstring(body.encode())
    assert root.findtext("Code") == "SignatureDoesNotMatch"
    assert root.findtext("Message", "").startswith(
        "The request signature we calculated does not match"
    )
    assert root.findtext("StringToSign", "").startswith("GOOG4-RSA-SHA256\n")
    assert root.findtext("CanonicalRequest", "").startswith(
        f"PUT\n/{BUCKET}/raw/ep-0001/source.mp4\n"
    )


def test_error_xml_escapes_and_carries_parameter_name() -> None:
    error = SignatureRejected(
        "x",
        400,
        code="MalformedSecurityHeader",
        message="a<b & c",
        details="d>e",
        parameter="x-goog-meta-<",
    )
    root = ET.fromstring(gcs_error_xml(error).encode())
    assert [child.tag for child in root] == [
        "Code",
        "Message",
        "ParameterName",
        "Details",
    ]
    assert (
        root.findtext("Message"),
        root.findtext("Details"),
        root.findtext("ParameterName"),
    ) == (
        "a<b & c",
        "d>e",
        "x-goog-meta-<",
    )


# --------------------------------------------------------------- known answers
# googleapis/conformance-tests storage/v1/v4_signatures.json, signed by the inactive
# dummy account published there; only its public key is reproduced here.

CONFORMANCE_EMAIL = "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com"
CONFORMANCE_PUBLIC_KEY = b"""-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArD8zIqyKLbX0Nq8o0Jj1
qHEhHhqO3+0OP7TEFx5Vxc6PdwBoFNrfnJRI/S+ZaDYS1avr5Pqpp8g8+UNOMvI1
VsjGM8xjTaxkVv8mmKp6pSmQstTt25pzY1exA2wv4xNWSwWNFNx2kh35+kvTQ/DF
3YA9P7pUU1sKur1PP8OoubWLFO59iy5UE5dX0O/3pjvZ2HAhSXsx2VWtB5nlrHR8
FrKJNLJMEGEDSMz9yRfQaUeYCU9oDYHuiqKQ3rCXi6C82l+3FJw5/ggJ5y7iw8ME
rCFSslcYQRbBVz6ZYKWkEcJhs8BG3/16bfaqNusNlDIJ99I7DmipUngF/HEulYhf
rQIDAQAB
-----END PUBLIC KEY-----
"""
CONFORMANCE_NOW = datetime(2019, 2, 1, 9, 0, 5, tzinfo=UTC)
_CRED = (
    "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=test-iam-credentials%40dummy-project-id"
    ".iam.gserviceaccount.com%2F20190201%2Fauto%2Fstorage%2Fgoog4_request"
    "&X-Goog-Date=20190201T090000Z&X-Goog-Expires=10"
)
CONFORMANCE_CASES = {
    "simple-get": (
        "GET",
        "https://storage.googleapis.com/test-bucket/test-object?"
        + _CRED
        + "&X-Goog-SignedHeaders=host"
        "&X-Goog-Signature=95e6a13d43a1d1962e667f17397f2b80ac9bdd1669210d5e08e0135df9dff4e56113485dbe429ca"
        "2266487b9d1796ebdee2d7cf682a6ef3bb9fbb4c351686fba90d7b621cf1c4eb1fdf126460dd25fa0837dfdde0a9fd98662"
        "ce60844c458448fb2b352c203d9969cb74efa4bdb742287744a4f2308afa4af0e0773f55e32e92973619249214b97283b2d"
        "aa14195244444e33f938138d1e5f561088ce8011f4986dda33a556412594db7c12fc40e1ff3f1bedeb7a42f5bcda0b9567f"
        "17f65855f65071fabb88ea12371877f3f77f10e1466fff6ff6973b74a933322ff0949ce357e20abe96c3dd5cfab42c9c83e"
        "740a4d32b9e11e146f0eb3404d2e975896f74",
        {},
    ),
    "slashes-and-ampersand": (
        "GET",
        "https://storage.googleapis.com/test-bucket/path/with/slashes/under_score/amper%26sand/file.ext?"
        + _CRED
        + "&X-Goog-SignedHeaders=header%2Fname%2Fwith%2Fslash%3Bhost"
        "&X-Goog-Signature=2a9a82e84e39f5d2c0d980514db17f8c3dece473c9a5743d54e8453f9811927b1b99ce548c534cab"
        "abd8fa339183e75b410e12e32a4c72f5ff176e95651fabed0072e59e7e236eb7e26f52c0ce599db1c47ae07af1a98d20872"
        "b6fde23432c0a5fcf4fb2dda735169198c80cd5cc51be9904f7e5eef2cc489ff44ac5697c529e4b34ac08709a7d2e425619"
        "377212c64561ed8b4d2fcb70a26e4f9236f995ab4658d240ac85c7a353bae6b2d39d5fc0716afa435a1f6e100db5504612b"
        "5e610db370623ab4b8eba3c03c98f23dcb4b9ffd518f2212abb2f93649d25385d71603d470cff0b7631adb9d0849d38609d"
        "edb3097761c8f47ec0d57777bb063611c05b",
        {"header/name/with/slash": "should-be-encoded"},
    ),
    "query-parameter-encoding": (
        "GET",
        "https://storage.googleapis.com/test-bucket/test-object?"
        + _CRED
        + "&X-Goog-SignedHeaders=host"
        "&souffl%C3%A9=%3D%25-_.~"
        "&X-Goog-Signature=38dd9ca622b80bca10f405e7d9ba0f0fbea719ca84d66078a484c5b54b1ce98e3fa8a0d2065216ed"
        "6ac03179be69312dabf428f8171b95994bdafe465a6f7893bacc7213a7bf4054ce2d78d4b60c34df24cc43e509ad7c81be4"
        "7148d43a0e67d50d8fe38c85b0c63f9a51149b4f3335315946fef8ab34315ce3f6ce01f1831abb3eda5e7e211823855ed17"
        "67c65a8c7aeec357de096e3406897acfe092fead51bbea7df83e25a6180f80c8a0871e4901c370f77f5675f2405be7ccd55"
        "fd6dd22a87cf0adfafdb3f6fa99974fcf6c947b62294eebd7954e546c28f5490a6c50694c0e4882fcfe0d4a4ae8891a9257"
        "9d6099a9b4c84d9f033a3b339163b6670b7e",
        {},
    ),
    "headers-trimmed-lowercase-signature-param": (
        "GET",
        "https://storage.googleapis.com/test-bucket/test-object?"
        + _CRED
        + "&X-Goog-SignedHeaders=collapsed%3Bhost%3Bleading%3Btabs%3Btrailing"
        "&x-goog-signature=75d77a3ed2d9b74ff7e1e23b2fd7cc714ad4cc32518c65f3a8197827cd87d302623bab990cf2ff3a"
        "633bfaae69b6c2d897add78c105aa68411229610421c4239579add4aff6bdbd5067a0fd61c3aa0029d7de0f8ae88fa3458f"
        "a70f875e841d6df9598597d9012b9f848c6857e08f2704ca2f332c71738490ffdda2ed928f9340549d7295745725062d28d"
        "c1696eab7cb3b88ac4fd445e951423f645d680a60dd8033d65b65f4c10286f59f4258dbb2bcf36a76ffdd40574104cbbf0b"
        "76901c24df5854f24c42e9192fcedc386d85704fec6a6bad3a5201e1fb6c491a4c43371b0913420743580daf3504e99204c"
        "6ec894b4d70cd27bc60c3fe2850e8bf3ed22",
        {
            "collapsed": "abc    def",
            "leading": "    xyz",
            "trailing": "abc    ",
            "tabs": "\tabc\t\t\t\tdef\t",
        },
    ),
    "virtual-hosted-style": (
        "GET",
        "https://test-bucket.storage.googleapis.com/test-object?"
        + _CRED
        + "&X-Goog-SignedHeaders=host"
        "&x-goog-signature=06c633ea060b0eda81ee58dd3337b01b0d243a44f18cb03ec948861f533a129e579c7fd4c856d187"
        "f1c7b86e5715ea0abf6a1c6ba32b69274d22b1b0406df6847dc87f0d289fe8dc0682351574849b8b13e4b66922f39441af9"
        "6becb73ea4c56cd5e3eeb30bc91fe84e8bd205adca8639253bdb65b2fcaf2598a230c6d8f6d8177c9e58a61b6e826767f59"
        "4056b490184d676897c4bbedc15d6fbf08c3fa82a406c62e74db661e6c5d7d3ced29e0619ee719dce4b8136360345b8dce1"
        "20b9f1debd511c8dac3e6d874ee05bfda8c8f1c4fedd0c07fc6d98f5f18a349bb204d8ff401402a025194e2792df8a09282"
        "141157e4ca51d26a8d0d142a01c805321911",
        {},
    ),
}


@pytest.fixture(scope="module")
def conformance_keys():  # type: ignore[no-untyped-def]
    public = serialization.load_pem_public_key(CONFORMANCE_PUBLIC_KEY)
    assert isinstance(public, RSAPublicKey)
    return lambda email: public if email == CONFORMANCE_EMAIL else None


@pytest.mark.parametrize("case", sorted(CONFORMANCE_CASES))
def test_conformance_vector(conformance_keys, case: str) -> None:  # type: ignore[no-untyped-def]
    method, url, headers = CONFORMANCE_CASES[case]
    parts = urlsplit(url)
    verified = _verify(parts, method, conformance_keys, headers, now=CONFORMANCE_NOW)
    assert verified.client_email == CONFORMANCE_EMAIL
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(
            parts,
            method,
            conformance_keys,
            headers,
            now=CONFORMANCE_NOW + timedelta(seconds=6),
        )
    _rejected(excinfo, 400, "ExpiredToken")
    with pytest.raises(SignatureRejected) as excinfo:
        _verify(
            parts,
            method,
            conformance_keys,
            headers,
            now=CONFORMANCE_NOW,
            path=parts.path + "x",
        )
    _rejected(excinfo, 403, "SignatureDoesNotMatch")
