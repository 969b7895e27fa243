"""Small clients the emulator and e2e tests share: the API through the gateway, with minted tokens, and a local HTTP
server for what a test plays the other side of (a partner's page, a static folder, a webhook receiver)."""

from __future__ import annotations

import functools
import threading
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from local_emulator import tokens
from local_emulator.stack import StackConfig


class Api:
    """The kstream API as a client sees it: the gateway's URL and a bearer token of some role."""

    def __init__(self, cfg: StackConfig, token: str | None) -> None:
        self.cfg = cfg
        self.base = cfg.gateway_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)


@functools.cache
def token_for(cfg: StackConfig, role: str, email: str | None = None) -> str:
    if role == "service":
        return tokens.service_token(cfg, email=email)
    return tokens.user_token(cfg, role, email)


def api_as(cfg: StackConfig, role: str | None, email: str | None = None) -> Api:
    return Api(cfg, token_for(cfg, role, email) if role else None)


def assert_envelope(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, f"{response.status_code} != {status}: {response.text[:500]}"
    body = response.json()
    error = body["error"]
    assert error["code"] == code, error
    assert error["message"] and isinstance(error["message"], str)
    assert error["requestId"] == response.headers["X-Request-ID"]
    assert error["timestamp"].endswith("Z")
    assert "Traceback" not in response.text
    return dict(error)


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output clean (no access log line per request)."""

    def log_message(self, *_args: Any) -> None:
        pass


class QuietFiles(SimpleHTTPRequestHandler):
    """Serves a folder (``functools.partial(QuietFiles, directory=...)``) without an access log line per request."""

    def log_message(self, *_args: Any) -> None:
        pass


class LocalHttpServer:
    """A threading HTTP server on a free 127.0.0.1 port, serving on a daemon thread; ``origin`` is its base URL.
    Use it as a context manager or call ``close``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler] | functools.partial) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalHttpServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
