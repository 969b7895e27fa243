"""The local Cloud CDN without the local cloud: byte ranges (RFC 9110), signature checks, CORS and caching, over a
small in-process stand-in for the storage emulator's JSON API."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer
from kstream.cdn_signing import decode_key, sign_cookie, sign_url, sign_url_prefix

from local_emulator.cdn import ByteRange, LocalCdn, Unsatisfiable, parse_range
from local_emulator.stack import StackConfig

KEY_NAME = "kstream-media-key"
KEY = decode_key("AAECAwQFBgcICQoLDA0ODw==")
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
SIZE = 1000
DATA = bytes(i % 251 for i in range(SIZE))


# ------------------------------------------------------------------------------------------------------ ranges


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", ByteRange(0, 99)),  # first
        ("bytes=100-199", ByteRange(100, 199)),  # middle
        ("bytes=-100", ByteRange(900, 999)),  # suffix
        ("bytes=900-", ByteRange(900, 999)),  # open-ended
        ("bytes=990-5000", ByteRange(990, 999)),  # last-pos past the end is clamped
        ("bytes=-5000", ByteRange(0, 999)),  # suffix longer than the object
        ("BYTES = 5 - 5", ByteRange(5, 5)),
        ("bytes=0-1,5-6", None),  # several ranges: whole object
        ("items=0-5", None),  # another unit
        ("bytes=5-1", None),  # invalid range-spec: ignored
        ("bytes=-", None),
        ("garbage", None),
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, SIZE) == expected


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", SIZE), ("bytes=5000-6000", SIZE), ("bytes=-0", SIZE),
                                              ("bytes=0-", 0), ("bytes=-5", 0)])
def test_unsatisfiable_ranges(header: str, size: int) -> None:
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


# ------------------------------------------------------------------------------------------------- the handler


def _storage(objects: dict[str, bytes], honour_range: bool) -> web.Application:
    """Enough of the storage JSON API: object metadata and ``alt=media`` with or without Range support."""

    async def get(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in objects:
            return web.json_response({"error": {"code": 404}}, status=404)
        data = objects[name]
        if request.query.get("alt") != "media":
            content_type = "application/octet-stream" if name.endswith(".m4s") else "video/mp4"
            return web.json_response({"name": name, "size": str(len(data)), "contentType": content_type,
                                      "etag": hashlib.md5(data).hexdigest(), "generation": "7",
                                      "updated": "2026-11-27T10:00:00.123Z"})
        wanted = request.headers.get("Range")
        if wanted and honour_range:
            first, last = (int(x) for x in wanted.removeprefix("bytes=").split("-"))
            return web.Response(status=206, body=data[first:last + 1],
                                headers={"Content-Range": f"bytes {first}-{last}/{len(data)}"})
        return web.Response(body=data)

    app = web.Application()
    app.router.add_get("/storage/v1/b/{bucket}/o/{name:.+}", get)
    return app


Check = Callable[[TestClient, str], Awaitable[None]]


def _run(check: Check, *, honour_range: bool = True, objects: dict[str, bytes] | None = None,
         tmp_path: Path, storage_down: bool = False) -> None:
    async def main() -> None:
        storage = TestServer(_storage(objects if objects is not None else {"videos/ep1/progressive.mp4": DATA,
                                                                          "videos/ep1/manifest.m3u8": b"#EXTM3U\n",
                                                                          "videos/ep1/seg1.m4s": b"x" * 10},
                                      honour_range))
        await storage.start_server()
        port = storage.port or 0
        if storage_down:
            await storage.close()  # nothing listens on the port any more
        cfg = StackConfig(state_dir=str(tmp_path), gcs_port=port)
        cdn = LocalCdn(cfg, keys={KEY_NAME: KEY}, clock=lambda: NOW)
        async with ClientSession() as session:
            async def handle(request: web.Request) -> web.StreamResponse:
                return await cdn.handle(request, session)

            front = web.Application()
            front.router.add_route("*", "/media/{tail:.*}", handle)
            async with TestClient(TestServer(front)) as client:
                base = f"http://{client.host}:{client.port}/media/videos/ep1/"
                await check(client, base)
        await storage.close()

    asyncio.run(main())


def _prefix_query(base: str) -> str:
    return sign_url_prefix(base, KEY_NAME, KEY, LATER)


async def _get(client: TestClient, url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with client.get("/" + url.split("/", 3)[3], headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


@pytest.mark.parametrize("honour_range", [True, False])
def test_ranges_through_the_cdn(tmp_path: Path, honour_range: bool) -> None:
    async def check(client: TestClient, base: str) -> None:
        url = f"{base}progressive.mp4?{_prefix_query(base)}"
        status, headers, body = await _get(client, url)
        assert (status, body, headers["Accept-Ranges"]) == (200, DATA, "bytes")
        assert headers["Content-Length"] == str(SIZE) and headers["Cache-Control"] == "public, max-age=3600"
        for header, first, last in (("bytes=0-99", 0, 99), ("bytes=300-449", 300, 449), ("bytes=-10", 990, 999),
                                    ("bytes=995-", 995, 999)):
            status, headers, body = await _get(client, url, Range=header)
            assert status == 206, header
            assert headers["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
            assert body == DATA[first:last + 1] and headers["Content-Length"] == str(last - first + 1)
        status, headers, body = await _get(client, url, Range="bytes=1000-")
        assert (status, headers["Content-Range"], body, headers["Cache-Control"]) == (416, f"bytes */{SIZE}", b"",
                                                                                       "no-store")
        # If-Range: the current ETag keeps the range, another one asks for the whole (changed) object
        etag = f'"{hashlib.md5(DATA).hexdigest()}"'
        assert (await _get(client, url, Range="bytes=0-9", **{"If-Range": etag}))[0] == 206
        assert (await _get(client, url, Range="bytes=0-9", **{"If-Range": '"old"'}))[0] == 200
        assert (await _get(client, url, Range="bytes=0-9", **{"If-Range": "Fri, 27 Nov 2026 10:00:00 GMT"}))[0] == 206

    _run(check, honour_range=honour_range, tmp_path=tmp_path)


def test_signatures_and_cookies(tmp_path: Path) -> None:
    async def check(client: TestClient, base: str) -> None:
        query = _prefix_query(base)
        cookie = sign_cookie(base, KEY_NAME, KEY, LATER)
        assert (await _get(client, f"{base}seg1.m4s?{query}"))[0] == 200
        assert (await _get(client, f"{base}seg1.m4s", Cookie=f"Cloud-CDN-Cookie={cookie}"))[0] == 200
        assert (await _get(client, sign_url(f"{base}seg1.m4s", KEY_NAME, KEY, LATER)))[0] == 200
        expired = sign_url_prefix(base, KEY_NAME, KEY, NOW - timedelta(seconds=1))
        other_key = sign_url_prefix(base, KEY_NAME, decode_key("8PHy8_T19vf4-fr7_P3-_w"), LATER)
        foreign_name = sign_url_prefix(base, "other-key", KEY, LATER)
        for refused in (f"{base}seg1.m4s", f"{base}seg1.m4s?{expired}", f"{base}seg1.m4s?{other_key}",
                        f"{base}seg1.m4s?{foreign_name}", f"{base}seg1.m4s?{query[:-3]}AAA=",
                        f"{base}seg1.m4s?{query.replace('Expires=', 'Expires=1')}",
                        f"{base.replace('ep1', 'ep2')}seg1.m4s?{query}"):
            status, headers, body = await _get(client, refused)
            assert status == 403, refused
            assert headers["Cache-Control"] == "no-store" and b"<Code>Forbidden</Code>" in body
        status, _, _ = await _get(client, f"{base}seg1.m4s", Cookie=f"Cloud-CDN-Cookie={cookie.replace(':Sig', ':X')}")
        assert status == 403
        # signed but absent: 404 after the signature check, never before it
        assert (await _get(client, f"{base}missing.m4s?{query}"))[0] == 404
        assert (await _get(client, f"{base}missing.m4s"))[0] == 403

    _run(check, tmp_path=tmp_path)


def test_types_caching_cors_and_methods(tmp_path: Path) -> None:
    async def check(client: TestClient, base: str) -> None:
        query = _prefix_query(base)
        status, headers, _ = await _get(client, f"{base}manifest.m3u8?{query}", Origin="https://app.kstream.test")
        assert status == 200
        assert headers["Content-Type"] == "video/mp4"  # the stored type wins when it is specific
        assert headers["Cache-Control"] == "private, max-age=60"
        assert headers["Access-Control-Allow-Origin"] == "https://app.kstream.test"
        assert headers["Access-Control-Allow-Credentials"] == "true"
        assert {"Content-Range", "Content-Length", "Accept-Ranges"} <= {
            h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")}
        status, headers, _ = await _get(client, f"{base}seg1.m4s?{query}")
        assert headers["Content-Type"] == "video/iso.segment"  # a generic stored type is replaced
        assert headers["Access-Control-Allow-Origin"] == "*"
        async with client.options("/media/videos/ep1/seg1.m4s", headers={
                "Origin": "https://app.kstream.test", "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "range"}) as preflight:
            assert preflight.status == 204
            assert "Range" in preflight.headers["Access-Control-Allow-Headers"]
            assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.kstream.test"
        async with client.head(f"/media/videos/ep1/progressive.mp4?{query}", headers={"Range": "bytes=0-9"}) as head:
            assert (head.status, head.headers["Content-Length"], await head.read()) == (206, "10", b"")
        async with client.post(f"/media/videos/ep1/seg1.m4s?{query}") as post:
            assert post.status == 405

    _run(check, tmp_path=tmp_path)


def test_storage_down_is_502(tmp_path: Path) -> None:
    async def check(client: TestClient, base: str) -> None:
        status, headers, body = await _get(client, f"{base}seg1.m4s?{_prefix_query(base)}")
        assert (status, headers["Cache-Control"]) == (502, "no-store")
        assert b"BadGateway" in body

    _run(check, tmp_path=tmp_path, storage_down=True)


def test_keys_come_from_the_stack_key_file(tmp_path: Path) -> None:
    cfg = StackConfig(state_dir=str(tmp_path))
    cfg.cdn_key_file.write_text("AAECAwQFBgcICQoLDA0ODw==\n")
    assert LocalCdn(cfg).keys == {KEY_NAME: KEY}
