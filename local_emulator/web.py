"""The web player's files on the local gateway, as a bucket or Firebase Hosting serves them in the cloud.

    GET /                web/index.html
    GET /web/<file>      web/<file> (app.js and the other ES modules, styles.css)
    GET /vendor/hls.js   node_modules/hls.js/dist/hls.min.js (pinned in package.json, installed by ``npm ci``)
    GET /config.json     where the page finds the API and Firebase Auth: locally the gateway (same origin) and the
                         Auth emulator, plus the demo users' names; in the cloud, see ``cloud_config``

Only GET and HEAD; a path outside ``web/`` is a 404. Files go out with ``Cache-Control: no-cache`` (edit and
reload) and a Content-Security-Policy that allows scripts from the site only, the API and Firebase Auth for
``fetch``/XHR, ``blob:`` for the media source and hls.js's worker, and ``data:`` media for the empty WebVTT
(``data:,WEBVTT``) that hls.js gives each subtitle ``<track>`` it renders natively.

``python -m local_emulator.web export OUT --api-base URL --api-key KEY`` writes the same tree, with a cloud
``config.json``, for ``gsutil rsync`` to a bucket or ``firebase deploy --only hosting``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from aiohttp import web

from . import tokens
from .stack import REPO, StackConfig

__all__ = ["HLS_JS", "WEB_DIR", "WebSite", "cloud_config", "export", "local_config"]

WEB_DIR = REPO / "web"
HLS_JS = REPO / "node_modules" / "hls.js" / "dist" / "hls.min.js"
GOOGLE_AUTH = "https://identitytoolkit.googleapis.com/v1"
GOOGLE_TOKENS = "https://securetoken.googleapis.com/v1/token"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def local_config(cfg: StackConfig) -> dict[str, Any]:
    """The page's config for the local cloud: the API on the same origin, Firebase Auth = the Auth emulator."""
    emulator = f"http://127.0.0.1:{cfg.auth_port}"
    return {
        "environment": "local",
        "apiBase": "",
        "auth": {
            "signInUrl": f"{emulator}/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword",
            "refreshUrl": f"{emulator}/securetoken.googleapis.com/v1/token",
            "apiKey": tokens.API_KEY,
        },
        "demo": {"password": tokens.DEMO_PASSWORD,
                 "users": [{"email": "viewer@kstream.local", "role": "user"},
                           {"email": "uploader@kstream.local", "role": "uploader"}]},
    }


def cloud_config(api_base: str, api_key: str) -> dict[str, Any]:
    """The page's config in a real project: the load balancer's URL and the Firebase Web API key (public)."""
    return {
        "environment": "cloud",
        "apiBase": api_base.rstrip("/"),
        "auth": {"signInUrl": f"{GOOGLE_AUTH}/accounts:signInWithPassword", "refreshUrl": GOOGLE_TOKENS,
                 "apiKey": api_key},
    }


def _origin(url: str) -> str:
    return "/".join(url.split("/")[:3])


def _csp(config: dict[str, Any], storage_url: str) -> str:
    """Scripts from the site only; fetch/XHR to the site, the API, Firebase Auth and storage (chunk PUTs); media from
    the site, ``blob:`` (Media Source) and ``data:`` (hls.js's subtitle <track> elements start as ``data:,WEBVTT``)."""
    origins = {_origin(str(config["auth"][k])) for k in ("signInUrl", "refreshUrl")} | {_origin(storage_url)}
    if config["apiBase"]:
        origins.add(_origin(config["apiBase"]))
    connect = " ".join(["'self'", *sorted(origins)])
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"media-src 'self' blob: data:; worker-src 'self' blob:; connect-src {connect}; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")


class WebSite:
    """Answers the player's paths for the gateway (``serves`` says which; ``handle`` answers them)."""

    def __init__(self, cfg: StackConfig, root: Path = WEB_DIR, hls_js: Path = HLS_JS) -> None:
        self.root = root.resolve()
        self.hls_js = hls_js
        self.config = local_config(cfg)
        self.headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                        "Referrer-Policy": "no-referrer", "Content-Security-Policy": _csp(self.config, cfg.storage_url)}

    @staticmethod
    def serves(path: str) -> bool:
        return path in ("/", "/index.html", "/config.json", "/vendor/hls.js") or path.startswith("/web/")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return web.Response(status=405, text="GET or HEAD only", headers={"Allow": "GET, HEAD"})
        path = request.path
        if path == "/config.json":
            return web.json_response(self.config, headers=self.headers)
        if path == "/vendor/hls.js":
            if not self.hls_js.is_file():
                return web.Response(status=503, text=f"{self.hls_js} is missing: run `npm ci` (make setup)",
                                    headers=self.headers)
            return self._file(self.hls_js)
        if path in ("/", "/index.html"):
            return self._file(self.root / "index.html")
        found = (self.root / path[len("/web/"):]).resolve()
        if not found.is_relative_to(self.root) or not found.is_file():
            return web.Response(status=404, text="Not found", headers=self.headers)
        return self._file(found)

    def _file(self, path: Path) -> web.FileResponse:
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        return web.FileResponse(path, headers={**self.headers, "Content-Type": content_type})


def export(out: Path, config: dict[str, Any], root: Path = WEB_DIR, hls_js: Path = HLS_JS) -> None:
    """Write the site (index.html, web/, vendor/hls.js, config.json) under ``out`` for static hosting."""
    if not hls_js.is_file():
        raise FileNotFoundError(f"{hls_js} is missing: run `npm ci`")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(root, out / "web", dirs_exist_ok=True, ignore=shutil.ignore_patterns("index.html"))
    shutil.copy2(root / "index.html", out / "index.html")
    (out / "vendor").mkdir(exist_ok=True)
    shutil.copy2(hls_js, out / "vendor" / "hls.js")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_emulator.web", description="kstream's web player")
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="write the static site for a bucket or Firebase Hosting")
    out.add_argument("out", type=Path)
    out.add_argument("--api-base", required=True, help="the load balancer's URL, e.g. https://api.example.com")
    out.add_argument("--api-key", required=True, help="the Firebase project's Web API key (public)")
    args = parser.parse_args(argv)
    export(args.out, cloud_config(args.api_base, args.api_key))
    print(f"site written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
