"""Completion callbacks: one signed POST to the ``callbackUrl`` of a transcoding job when it completes or fails.

Body (JSON): ``{"jobId", "videoId", "status": "completed" | "failed", "completedAt", "outputFiles"?, "error"?}``.

Signature (Stripe-style, so the receiver can check the sender and reject replays):

    X-Kstream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The receiver recomputes the HMAC over the raw body bytes with the shared secret (``KSTREAM_CALLBACK_SIGNING_SECRET``),
compares in constant time and refuses timestamps more than 5 minutes away from its clock (:func:`verify` does all
three). ``X-Kstream-Delivery`` repeats the job id for logs and de-duplication on the receiver's side.

Where callbacks may go (SSRF): https only, to a public host. A host that names this network rather than the
internet (``localhost``, ``metadata.google.internal`` and any ``*.internal``, a single-label name, an IP literal in
any spelling, ``2130706433`` included, that is not globally routable: loopback, private, link-local such as
169.254.169.254, CGNAT, reserved) is refused at start, and again at delivery after resolving the name, so a public
name pointing at an internal address gets nothing either. Local runs also allow loopback hosts, over http too.

Delivery: up to ``attempts`` POSTs with exponential backoff (0.5 s, 1 s, 2 s ...), each with a short timeout, no
redirects followed. A 2xx answer is delivered; 408, 429 and 5xx answers, timeouts and connection errors are
retried; any other 4xx is final (the receiver refused it). The job records the outcome (``callbackState``
delivered / failed), and the service guarantees the callback is sent once per job (see transcode/jobs.py).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from ..errors import RequestInvalid
from ..settings import Settings

__all__ = [
    "DELIVERY_HEADER",
    "LOCAL_DEVELOPMENT_SECRET",
    "SIGNATURE_HEADER",
    "Delivery",
    "check_url",
    "deliver",
    "internal_target",
    "secret_for",
    "sign",
    "verify",
]

SIGNATURE_HEADER = "X-Kstream-Signature"
DELIVERY_HEADER = "X-Kstream-Delivery"
LOCAL_DEVELOPMENT_SECRET = "kstream-local-callback-secret"  # noqa: S105 (documented; local runs only)
TOLERANCE_SECONDS = 300
ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
TIMEOUT_SECONDS = 5.0
_RETRY_STATUSES = {408, 425, 429}
_LOOPBACK_NAMES = {"localhost"}
_INTERNAL_NAMES = {"metadata", "metadata.google.internal"}
_INTERNAL_SUFFIXES = (".internal", ".localhost", ".local")


def secret_for(settings: Settings) -> str | None:
    """The signing key: the configured secret; in local runs (a transcoder endpoint set) the development key."""
    if settings.callback_signing_secret:
        return settings.callback_signing_secret
    return LOCAL_DEVELOPMENT_SECRET if settings.transcoder_endpoint else None


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str | None, *, now: float | None = None,
           tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` is a valid signature of ``body`` made within ``tolerance`` seconds of ``now``."""
    if not header:
        return False
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", []))


def check_url(url: str, *, allow_loopback_http: bool) -> str:
    """``url`` if it may receive callbacks: https with a host (http only to a loopback host in local runs)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise RequestInvalid(f"callbackUrl is not a valid URL: {url[:200]!r}", details={"field": "callbackUrl"}
                             ) from None
    host = (parts.hostname or "").lower()
    if not host or parts.username or parts.password or len(url) > 2048:
        raise RequestInvalid("callbackUrl must be an absolute https URL with a host and no credentials",
                             details={"field": "callbackUrl"})
    loopback_ok = allow_loopback_http and _loopback(host)
    if not loopback_ok and _internal_host(host):
        raise RequestInvalid(f"callbackUrl must name a public host; {host!r} is internal (loopback, private, "
                             "link-local, metadata server)", details={"field": "callbackUrl"})
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and loopback_ok:
        return url
    allowed = "https (or http to a loopback host in local runs)" if allow_loopback_http else "https"
    raise RequestInvalid(f"callbackUrl must use {allowed}; found {parts.scheme or 'no'} scheme with host {host!r}"
                         f"{'' if port is None else f':{port}'}", details={"field": "callbackUrl"})


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    address = _ip_literal(host)
    return address is not None and address.is_loopback


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``host`` spells, in any form a resolver accepts (``127.1``, ``0x7f.1``, ``2130706433``)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _internal_host(host: str) -> bool:
    """Whether ``host`` (lower-case, from a URL) names something on this network rather than the internet."""
    address = _ip_literal(host)
    if address is not None:
        return not _public_address(address)
    name = host.rstrip(".")
    return (name in _LOOPBACK_NAMES or name in _INTERNAL_NAMES or name.endswith(_INTERNAL_SUFFIXES)
            or "." not in name)


def _resolve(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)]


def internal_target(url: str, *, allow_loopback: bool,
                    resolve: Callable[[str], Sequence[str]] = _resolve) -> str | None:
    """Why ``url`` must not be called now (its host is or resolves to an internal address), or None."""
    host = (urlsplit(url).hostname or "").lower()
    if allow_loopback and _loopback(host):
        return None
    if _internal_host(host):
        return f"{host} is an internal host"
    try:
        addresses = resolve(host)
    except (OSError, UnicodeError):
        return None  # unresolvable: the POST fails on its own and is retried like any network error
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not _public_address(address) and not (allow_loopback and address.is_loopback):
            return f"{host} resolves to the internal address {address}"
    return None


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    status: int | None = None  # HTTP status of the last answer, if any
    error: str | None = None  # why the last attempt failed


def deliver(url: str, payload: Mapping[str, Any], secret: str, *, attempts: int = ATTEMPTS,
            backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS,
            session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.time, allow_loopback: bool = False,
            resolve: Callable[[str], Sequence[str]] = _resolve) -> Delivery:
    """POST ``payload`` signed to ``url``, retrying with exponential backoff; never raises for network errors.

    Nothing is sent when the host is, or resolves to, an internal address (``allow_loopback``: local runs)."""
    refused = internal_target(url, allow_loopback=allow_loopback, resolve=resolve)
    if refused is not None:
        return Delivery(False, 0, None, f"not sent: {refused}")
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    http = session or requests.Session()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, attempts + 1):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "kstream-transcode-callback/1",
            SIGNATURE_HEADER: sign(secret, body, int(clock())),
            DELIVERY_HEADER: str(payload.get("jobId", "")),
        }
        try:
            response = http.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
            status, error = response.status_code, None
            if 200 <= status < 300:
                return Delivery(True, attempt, status)
            error = f"HTTP {status}"
            if status < 500 and status not in _RETRY_STATUSES:
                return Delivery(False, attempt, status, f"{error}: the receiver refused the callback")
        except requests.RequestException as exc:
            status, error = None, exc.__class__.__name__
        if attempt < attempts:
            sleep(backoff * 2 ** (attempt - 1))
    return Delivery(False, attempts, status, error)
