"""The kstream upload API as a client sees it: JSON in and out, errors as ApiError with the envelope's code."""

from __future__ import annotations

from typing import Any

import requests

DEFAULT_TIMEOUT = (10, 600)  # connect, read: complete streams and composes up to 2 GiB server-side


class ApiError(Exception):
    """A non-2xx answer of the API: HTTP status, the envelope's code, message and details."""

    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        try:
            error = response.json()["error"]
            return cls(response.status_code, str(error["code"]), str(error["message"]), error.get("details"),
                       dict(response.headers))
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, "HTTP_ERROR", response.text[:300] or response.reason,
                       headers=dict(response.headers))


class UploadApi:
    def __init__(self, base_url: str, token: str, session: requests.Session | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers.setdefault("User-Agent", "kstream-uploader/1")

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        response = self.session.request(method, self.base + path, **kwargs)
        if not response.ok:
            raise ApiError.from_response(response)
        return dict(response.json())

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", "/api/upload/start", json=body)

    def status(self, upload_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/upload/status/{upload_id}")

    def complete(self, upload_id: str, final_checksum: str) -> dict[str, Any]:
        return self._call("POST", f"/api/upload/complete/{upload_id}", json={"finalChecksum": final_checksum})

    def put_subtitle(self, video_id: str, language: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("PUT", f"/api/videos/{video_id}/subtitles/{language}", json=body)

    def delete_subtitle(self, video_id: str, language: str) -> None:
        kwargs: dict[str, Any] = {"timeout": DEFAULT_TIMEOUT}
        response = self.session.request("DELETE", f"{self.base}/api/videos/{video_id}/subtitles/{language}",
                                        **kwargs)
        if not response.ok:
            raise ApiError.from_response(response)

    def subtitles(self, video_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/videos/{video_id}/subtitles")

    def video(self, video_id: str) -> dict[str, Any]:
        return self._call("GET", f"/api/videos/{video_id}")

    def chunk(self, upload_id: str, index: int, data: bytes, checksum_hex: str,
              session: requests.Session | None = None) -> dict[str, Any]:
        """The chunk endpoint (spec's multipart form), for clients that cannot reach storage directly."""
        sender = session or self.session
        response = sender.post(
            f"{self.base}/api/upload/chunk/{upload_id}/{index}",
            files={"chunk": (f"chunk-{index}", data, "application/octet-stream")},
            headers={"X-Chunk-Checksum": checksum_hex, "Authorization": self.session.headers["Authorization"]},
            timeout=DEFAULT_TIMEOUT,
        )
        if not response.ok:
            raise ApiError.from_response(response)
        return dict(response.json())
