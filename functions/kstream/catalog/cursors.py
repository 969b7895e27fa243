"""Page tokens (``nextPageToken``): where the next page of a search resumes, signed against editing and bound to
the search that issued it (its plan's fingerprint: same parameters, same user scope).

A token is ``base64url(json).base64url(sha256(salt + json)[:9])``; a damaged, edited or foreign token is a
400 REQUEST_INVALID naming ``pageToken``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .documents import VIDEO_ID
from .repository import DOC_ID, F_EPISODE, F_UPLOAD_DATE
from .search_plan import SearchPlan, invalid_query

__all__ = ["PageToken", "decode_token", "encode_token"]

_TOKEN_SALT = b"kstream-page-token-v1\x00"


@dataclass(frozen=True)
class PageToken:
    after: tuple[Any, ...] | None  # where the window starts
    sub: int  # page within the window
    page: int
    total: int
    exact: bool
    before: int  # matches in the windows before this one


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.astimezone(UTC).isoformat()}
    return value


def _decode_value(value: Any, name: str) -> Any:
    if name == F_UPLOAD_DATE:
        if not (isinstance(value, dict) and isinstance(value.get("t"), str)):
            raise ValueError("bad timestamp")
        return datetime.fromisoformat(value["t"])
    if name == F_EPISODE:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("bad episode")
        return value
    if not isinstance(value, str):
        raise ValueError(f"bad {name}")
    return value


def encode_token(plan: SearchPlan, token: PageToken) -> str:
    payload = {
        "v": 1, "f": plan.fingerprint, "j": token.sub, "p": token.page, "t": token.total, "x": token.exact,
        "b": token.before,
        "a": None if token.after is None else [_encode_value(v) for v in token.after],
    }
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    check = hashlib.sha256(_TOKEN_SALT + raw).digest()[:9]
    return f"{_b64(raw)}.{_b64(check)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_token(plan: SearchPlan, text: str) -> PageToken:
    damaged = invalid_query("pageToken", "not a page token of this API (damaged or edited); start again without it")
    try:
        body, check = text.split(".")
        raw = _unb64(body)
        if hashlib.sha256(_TOKEN_SALT + raw).digest()[:9] != _unb64(check):
            raise damaged
        payload = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise damaged from None
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise damaged
    if payload.get("f") != plan.fingerprint:
        raise invalid_query("pageToken", "it belongs to a search with other parameters (or another user); send "
                            "the same q, filters, sort, order and limit as the request that returned it")
    try:
        sub, page, total, exact, before = payload["j"], payload["p"], payload["t"], payload["x"], payload["b"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (sub, page, total, before)):
            raise ValueError("counters")
        if not isinstance(exact, bool) or sub < 0 or sub >= plan.pages_per_window or page < 2 or total < 0 \
                or before < 0:
            raise ValueError("ranges")
        after_raw = payload["a"]
        after: tuple[Any, ...] | None = None
        if after_raw is not None:
            names = (*plan.sort_fields, DOC_ID)
            if not isinstance(after_raw, list) or len(after_raw) != len(names):
                raise ValueError("position")
            after = tuple(_decode_value(v, n) for v, n in zip(after_raw, names, strict=True))
            if not VIDEO_ID.match(after[-1]):
                raise ValueError("id")
    except (KeyError, ValueError, TypeError):
        raise damaged from None
    return PageToken(after, sub, page, total, exact, before)
