"""Cloud Storage through the storage emulator's JSON API (fake-gcs-server speaks it): plain HTTP, no credentials."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import requests

CONTENT_TYPES = {
    ".m3u8": "application/x-mpegURL",
    ".mpd": "application/dash+xml",
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
}


class ObjectNotFound(Exception):
    pass


def emulator_host(value: str | None = None) -> str:
    host = value or os.environ.get("STORAGE_EMULATOR_HOST", "")
    if not host:
        raise RuntimeError("STORAGE_EMULATOR_HOST is not set: the local Transcoder needs the storage emulator")
    return host.rstrip("/") if "://" in host else "http://" + host.rstrip("/")


class Storage:
    def __init__(self, host: str | None = None, timeout: float = 120.0):
        self.base = emulator_host(host)
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def download(self, bucket: str, name: str, dest: str) -> int:
        url = f"{self.base}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        with self._session().get(url, params={"alt": "media"}, stream=True, timeout=self.timeout) as resp:
            if resp.status_code == 404:
                raise ObjectNotFound(f"gs://{bucket}/{name}")
            resp.raise_for_status()
            size = 0
            with open(dest, "wb") as handle:
                for chunk in resp.iter_content(1 << 20):
                    handle.write(chunk)
                    size += len(chunk)
        return size

    def upload(self, bucket: str, name: str, path: str) -> None:
        content_type = CONTENT_TYPES.get(os.path.splitext(path)[1].lower(), "application/octet-stream")
        url = f"{self.base}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        with open(path, "rb") as handle:
            resp = self._session().post(url, params={"uploadType": "media", "name": name}, data=handle,
                                        headers={"Content-Type": content_type}, timeout=self.timeout)
        if resp.status_code == 404:
            raise ObjectNotFound(f"bucket gs://{bucket} does not exist")
        resp.raise_for_status()

    def upload_tree(self, root: str, bucket: str, prefix: str, on_done=None, workers: int = 4) -> list[str]:
        files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, names in os.walk(root) for f in names)

        def one(rel: str) -> str:
            self.upload(bucket, prefix + rel.replace(os.sep, "/"), os.path.join(root, rel))
            if on_done:
                on_done()
            return rel

        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, files))
