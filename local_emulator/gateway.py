"""The local gateway: plays the cloud's HTTPS load balancer (API routing from the function list, Cloud CDN for the
media bucket) on one port, and the Cloud Storage front end (V4 signed-URL checks, CORS) on another.

Request and response bodies stream through in 1 MiB pieces; nothing is held whole in memory. A PUT with
Content-MD5 streams through too, hashed on the way, but its last piece is held back until the whole body is hashed:
on a mismatch the upstream request is abandoned one piece short, so storage never completes (nor replaces) the
object, as Cloud Storage never commits a body that fails its Content-MD5.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import sys
import time
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, TCPConnector, client_exceptions, web
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from kstream.observability import RequestDurations, sane_request_id  # noqa: E402
from kstream.registry import function_list  # noqa: E402

from contracts.envelope import ErrorBody, ErrorResponse  # noqa: E402
from contracts.errors import DEFAULT_MESSAGES, HTTP_STATUS, ErrorCode  # noqa: E402

from . import cdn, gcs_signed_urls, keys  # noqa: E402
from .stack import StackConfig  # noqa: E402
from .web import WebSite  # noqa: E402

PIECE = 1 << 20
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
}
# How both listeners parse requests: bodies pass through as sent (a proxy decodes no Content-Encoding), and request
# lines and header fields up to 64 KiB reach the handlers, so an over-long URL or token gets the function's answer
# in the envelope rather than the HTTP parser's plain-text 400.
SERVER_OPTIONS: dict[str, Any] = {"auto_decompress": False, "max_line_size": 64 * 1024, "max_field_size": 64 * 1024}
_ROUTER_CODES = {404: ErrorCode.ROUTE_NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}
# How long an idle upstream connection stays in the pool: under the functions host's keep-alive (gunicorn's
# --keep-alive, 2 s by default, which the stack keeps). With aiohttp's default of 15 s the gateway reused sockets
# gunicorn had already closed: aiohttp retries a GET on such a socket by itself, but a POST (/auth/validate) failed
# with ServerDisconnectedError and became a 503 (issue 14's bursts of errors under load, on ours and the bare side
# alike). Google's front end does not pass such a closed connection on to the caller either.
UPSTREAM_IDLE_SECONDS = 1.0


def envelope(code: ErrorCode, message: str | None, request_id: str, headers: dict[str, str] | None = None
             ) -> web.Response:
    body = ErrorResponse(error=ErrorBody(
        code=code,
        message=message or DEFAULT_MESSAGES[code],
        timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        requestId=request_id,
    ))
    response = web.json_response(body.model_dump(mode="json", exclude_none=True), status=HTTP_STATUS[code])
    response.headers["X-Request-ID"] = request_id
    response.headers.update(headers or {})
    return response


@web.middleware
async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every answer of the API listener is the envelope: a request the router cannot take (a path with a newline,
    CONNECT) and a bug in the gateway alike."""
    try:
        return await handler(request)
    except HeaderNotText as exc:
        return envelope(ErrorCode.REQUEST_INVALID, f"Header {exc.name[:60]!r} is not valid text",
                        sane_request_id(request.headers.get("X-Request-ID")))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _ROUTER_CODES.get(exc.status, ErrorCode.REQUEST_INVALID)
        return envelope(code, f"No endpoint takes {request.method} {request.path[:200]!r}" if exc.status in
                        _ROUTER_CODES else None, sane_request_id(request.headers.get("X-Request-ID")))
    except Exception as exc:  # a bug: say so in the envelope, with the stack trace in the gateway's log only
        print(f"gateway: unhandled error on {request.method} {request.path[:200]!r}: {exc!r}", flush=True)
        traceback.print_exc()
        return envelope(ErrorCode.SYSTEM_ERROR, None, sane_request_id(request.headers.get("X-Request-ID")))


class HeaderNotText(Exception):
    """A request header whose bytes are not text (aiohttp keeps them as surrogates): nothing behind the load
    balancer could read it, so the request is refused as malformed (400) instead of crashing the relay."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def forward_headers(request: web.Request, request_id: str | None = None) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    for name, value in headers.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise HeaderNotText(name) from None
    if request.content_length is not None:
        headers["Content-Length"] = str(request.content_length)
    peer = request.remote or ""
    prior = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    if request_id:
        headers["X-Request-ID"] = request_id
    return headers


async def relay(request: web.Request, session: ClientSession, url: str, headers: dict[str, str],
                body: Any = None, extra_headers: dict[str, str] | None = None) -> web.StreamResponse:
    """Send the request upstream and stream the answer back."""
    if body is None and request.body_exists:
        body = request.content
    async with session.request(request.method, url, headers=headers, data=body, allow_redirects=False,
                               auto_decompress=False) as upstream:
        response = web.StreamResponse(status=upstream.status)
        for key, value in upstream.headers.items():
            if key.lower() not in HOP_BY_HOP:
                response.headers.add(key, value)
        if upstream.content_length is not None:
            response.content_length = upstream.content_length
        response.headers.update(extra_headers or {})
        await response.prepare(request)
        if request.method != "HEAD":
            async for piece in upstream.content.iter_chunked(PIECE):
                await response.write(piece)
        await response.write_eof()
        return response


class DigestCheck:
    """Streams a request body upstream while checking it against its Content-MD5 (base64).

    Each piece is hashed on a worker thread (hashlib releases the GIL) while the previous one is written upstream.
    The last piece is sent only once the digest matches; otherwise the body stops one piece short (``failed`` is
    set and the upstream request fails), so storage, which stores nothing from a truncated body, never sees it.
    """

    def __init__(self, declared: str) -> None:
        self.declared = declared
        self.failed = False

    async def body(self, content: web.StreamReader) -> AsyncIterator[bytes]:
        md5 = hashlib.md5()  # noqa: S324 (Content-MD5 is MD5 by definition)
        held = b""
        async for piece in content.iter_chunked(PIECE):
            hashing = asyncio.ensure_future(asyncio.to_thread(md5.update, piece))
            try:
                if held:
                    yield held
            finally:
                await hashing
            held = piece
        if base64.b64encode(md5.digest()).decode() != self.declared:
            self.failed = True
            raise BadDigest(self.declared)
        if held:
            yield held


class BadDigest(Exception):
    """A body did not match its Content-MD5."""


class Gateway:
    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.functions = function_list()
        self.metrics = RequestDurations()
        self.signing_info = json.loads(cfg.signing_key_file.read_text())
        private = load_pem_private_key(self.signing_info["private_key"].encode(), password=None)
        self.public_keys: dict[str, RSAPublicKey] = {self.signing_info["client_email"]: private.public_key()}  # type: ignore[union-attr, dict-item]
        self.oidc_certs = keys.oidc_certs(self.signing_info)
        self.cdn = cdn.LocalCdn(cfg)
        self.site = WebSite(cfg)  # the web player (local_emulator/web.py)
        self.session: ClientSession | None = None

    async def open(self, _app: web.Application) -> None:
        self.session = ClientSession(
            connector=TCPConnector(limit=256, force_close=False, keepalive_timeout=UPSTREAM_IDLE_SECONDS),
            timeout=ClientTimeout(total=None, sock_connect=10, sock_read=600),
        )

    async def close(self, _app: web.Application) -> None:
        if self.session:
            await self.session.close()

    # -- the load balancer ------------------------------------------------------------------------
    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        path = request.path
        request_id = sane_request_id(request.headers.get("X-Request-ID"))
        route = "unmatched"
        response: web.StreamResponse
        if path == "/_emulator/healthz":
            return web.Response(text="ok")
        if path == "/_emulator/oauth2/certs":
            return web.json_response(self.oidc_certs, headers={"Cache-Control": "public, max-age=300"})
        if path == "/_emulator/metrics":
            return web.Response(text=self.metrics.render(), content_type="text/plain")
        if path.startswith(cdn.MOUNT):  # Cloud CDN in front of the media bucket (local_emulator/cdn.py)
            assert self.session is not None
            response = await self.cdn.handle(request, self.session)
            self.metrics.observe("/media/*", request.method, response.status, time.perf_counter() - started)
            return response
        matched = self.functions.match(path, None if request.method == "OPTIONS" else request.method) \
            or self.functions.match(path)
        if matched is None and self.site.serves(path):
            return await self.site.handle(request)
        if matched is None:
            response = envelope(ErrorCode.ROUTE_NOT_FOUND, f"No endpoint at {path}", request_id)
        else:
            route = matched.function.http.path if matched.function.http else path
            url = f"{self.cfg.functions_url}/{matched.function.name}{request.rel_url}"
            try:
                assert self.session is not None
                response = await relay(request, self.session, url, forward_headers(request, request_id),
                                       extra_headers={"X-Request-ID": request_id})
            except (TimeoutError, client_exceptions.ClientError) as exc:
                response = envelope(ErrorCode.SYSTEM_UNAVAILABLE,
                                    f"{matched.function.name} is not answering ({exc.__class__.__name__})",
                                    request_id)
        self.metrics.observe(route, request.method, response.status, time.perf_counter() - started)
        return response

    # -- the Cloud Storage front end ----------------------------------------------------------------
    async def handle_storage(self, request: web.Request) -> web.StreamResponse:
        cors = self._cors_headers(request)
        if request.method == "OPTIONS":
            return web.Response(status=200, headers={
                **cors,
                "Access-Control-Allow-Methods": "GET, HEAD, PUT, POST, DELETE",
                "Access-Control-Allow-Headers": request.headers.get("Access-Control-Request-Headers", "*"),
                "Access-Control-Max-Age": "3600",
            })
        if "X-Goog-Signature" not in request.query:
            return self._storage_error(403, "AccessDenied", "Access denied. Anonymous caller does not have "
                                       "storage.objects access; use a signed URL.", cors)
        try:
            gcs_signed_urls.verify_v4_request(
                method=request.method,
                host=request.host,
                path=request.raw_path.split("?", 1)[0],
                raw_query=request.rel_url.raw_query_string,  # as sent: the verifier decodes it once
                headers=dict(request.headers),
                public_keys=self.public_keys.get,
                now=datetime.now(UTC),
            )
        except gcs_signed_urls.SignatureRejected as rejected:
            return web.Response(status=rejected.status, text=gcs_signed_urls.gcs_error_xml(rejected),
                                content_type="application/xml", headers=cors)
        headers = forward_headers(request)
        headers["Host"] = f"127.0.0.1:{self.cfg.gcs_port}"
        body: Any = None
        check: DigestCheck | None = None
        if "Content-MD5" in request.headers and request.body_exists:
            check = DigestCheck(request.headers["Content-MD5"].strip())
            body = check.body(request.content)
        assert self.session is not None
        url = f"{self.cfg.gcs_url}{request.raw_path}"
        try:
            return await relay(request, self.session, url, headers, body=body, extra_headers=cors)
        except client_exceptions.ClientError:
            if check is not None and check.failed:  # the upstream request was abandoned before its last piece
                return self._storage_error(400, "BadDigest", "The Content-MD5 you specified did not match "
                                           "what was received.", cors)
            raise

    @staticmethod
    def _cors_headers(request: web.Request) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": request.headers.get("Origin", "*"),
            "Access-Control-Expose-Headers": "ETag, x-goog-hash, x-goog-generation, Content-Length, Content-Range",
            "Vary": "Origin",
        }

    @staticmethod
    def _storage_error(status: int, code: str, message: str, cors: dict[str, str]) -> web.Response:
        xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return web.Response(status=status, text=xml, content_type="application/xml", headers=cors)

    # -- wiring -----------------------------------------------------------------------------------
    def api_app(self) -> web.Application:
        app = web.Application(client_max_size=0, middlewares=[api_errors])
        app.on_startup.append(self.open)
        app.on_cleanup.append(self.close)
        app.router.add_route("*", "/{tail:.*}", self.handle_api)
        return app

    def storage_app(self) -> web.Application:
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self.handle_storage)
        return app


async def serve(cfg: StackConfig) -> None:
    gateway = Gateway(cfg)
    api = web.AppRunner(gateway.api_app(), access_log=None, **SERVER_OPTIONS)
    storage = web.AppRunner(gateway.storage_app(), access_log=None, **SERVER_OPTIONS)
    await api.setup()
    await storage.setup()
    await web.TCPSite(api, "127.0.0.1", cfg.gateway_port, backlog=512).start()
    await web.TCPSite(storage, "127.0.0.1", cfg.storage_port, backlog=512).start()
    print(f"gateway on {cfg.gateway_url}, storage front on {cfg.storage_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await storage.cleanup()
        await api.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description="kstream's local load balancer, CDN and storage front end")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(StackConfig.read(args.state_dir)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
