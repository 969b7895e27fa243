"""Completion callbacks: one signed POST to the ``callbackUrl`` of a transcoding job when it completes or fails.

Body (JSON): ``{"jobId", "videoId", "status": "completed" | "failed", "completedAt", "outputFiles"?, "error"?}``.

Signature (Stripe-style, so the receiver can check the sender and reject replays):

    X-Kstream-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>

The receiver recomputes the HMAC over the raw body bytes with the shared secret (``KSTREAM_CALLBACK_SIGNING_SECRET``),
compares in constant time and refuses timestamps more than 5 minutes away from its clock (:func:`verify` does all
three). ``X-Kstream-Delivery`` repeats the job id for logs and de-duplication on the receiver's side.

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
import time
from collections.abc import Callable, Mapping
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
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and allow_loopback_http and _loopback(host):
        return url
    allowed = "https (or http to a loopback host in local runs)" if allow_loopback_http else "https"
    raise RequestInvalid(f"callbackUrl must use {allowed}; found {parts.scheme or 'no'} scheme with host {host!r}"
                         f"{'' if port is None else f':{port}'}", details={"field": "callbackUrl"})


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    attempts: int
    status: int | None = None  # HTTP status of the last answer, if any
    error: str | None = None  # why the last attempt failed


def deliver(url: str, payload: Mapping[str, Any], secret: str, *, attempts: int = ATTEMPTS,
            backoff: float = BACKOFF_SECONDS, timeout: float = TIMEOUT_SECONDS,
            session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
            clock: Callable[[], float] = time.time) -> Delivery:
    """POST ``payload`` signed to ``url``, retrying with exponential backoff; never raises for network errors."""
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
