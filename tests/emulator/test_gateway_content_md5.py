"""The storage front streams PUT bodies through while checking Content-MD5 (bound into the signature or merely sent,
as Cloud Storage checks either): a body that does not match is refused with BadDigest and never reaches storage,
not even to replace an object that was there, and the requests after it are unaffected."""

from __future__ import annotations

import base64
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from local_emulator.stack import StackConfig


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def signed_put(cfg: StackConfig, name: str, **headers: str) -> str:
    credentials = service_account.Credentials.from_service_account_file(str(cfg.signing_key_file))
    client = storage.Client(project=cfg.project_id, credentials=AnonymousCredentials())
    blob = client.bucket(cfg.upload_bucket).blob(name)
    return str(blob.generate_signed_url(version="v4", method="PUT", expiration=600, credentials=credentials,
                                        api_access_endpoint=cfg.storage_url, headers=headers or None))


def stored(cfg: StackConfig, name: str) -> bytes | None:
    blob = storage.Client(project=cfg.project_id).bucket(cfg.upload_bucket).get_blob(name)
    return None if blob is None else bytes(blob.download_as_bytes())


def test_a_bad_body_never_replaces_the_object_and_the_next_puts_are_intact(local_cloud: StackConfig,
                                                                           unique: str) -> None:
    name = f"gateway-md5/{unique}/chunk"
    first = os.urandom(3 * 1024 * 1024 + 17)  # several pieces: the check spans the whole stream
    url = signed_put(local_cloud, name)  # Content-MD5 not bound: sent anyway, checked anyway
    ok = requests.put(url, data=first, headers={"Content-MD5": md5_b64(first)}, timeout=30)
    assert ok.status_code == 200, ok.text
    corrupted = bytearray(first)
    corrupted[-1] ^= 1  # only the last byte differs: it is in the piece held back
    with requests.Session() as session:  # one connection for the refused PUT and the ones after it
        refused = session.put(url, data=bytes(corrupted), headers={"Content-MD5": md5_b64(first)}, timeout=30)
        assert refused.status_code == 400 and "<Code>BadDigest</Code>" in refused.text
        assert stored(local_cloud, name) == first  # the earlier object stands
        second = os.urandom(1024 * 1024)
        again = session.put(url, data=second, headers={"Content-MD5": md5_b64(second)}, timeout=30)
        assert again.status_code == 200, again.text
        assert stored(local_cloud, name) == second


def test_a_refused_first_put_leaves_no_object(local_cloud: StackConfig, unique: str) -> None:
    name = f"gateway-md5/{unique}/never"
    data = os.urandom(2 * 1024 * 1024)
    url = signed_put(local_cloud, name, **{"Content-MD5": md5_b64(data)})
    refused = requests.put(url, data=data[:-1] + b"x", headers={"Content-MD5": md5_b64(data)}, timeout=30)
    assert refused.status_code == 400 and "BadDigest" in refused.text
    assert stored(local_cloud, name) is None


def test_parallel_checked_puts_all_land_byte_for_byte(local_cloud: StackConfig, unique: str) -> None:
    bodies = [os.urandom(1024 * 1024 + i * 4099) for i in range(8)]

    def put(index: int) -> int:
        name = f"gateway-md5/{unique}/p{index}"
        md5 = md5_b64(bodies[index])
        url = signed_put(local_cloud, name, **{"Content-MD5": md5})
        return requests.put(url, data=bodies[index], headers={"Content-MD5": md5}, timeout=60).status_code

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(put, range(8))) == [200] * 8
    for index, body in enumerate(bodies):
        assert stored(local_cloud, f"gateway-md5/{unique}/p{index}") == body
