"""Chunk objects of uploads in the upload bucket: ``uploads/<uploadId>/chunk-00000`` ...

Chunks arrive mostly by direct signed PUTs, so the bucket, not Firestore, is the record of what was received:
status and complete list the prefix and judge each object by its size (and MD5 when declared). Everything under
``uploads/<uploadId>/`` is scratch: deleted after a successful complete, otherwise by the bucket's lifecycle rule
(terraform/modules/storage: objects older than ``abandoned_upload_days``, 2 by default; sessions live 24 h).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

from google.api_core import exceptions as gexc
from google.cloud import storage as gcs

from . import rules

DELETE_PARALLELISM = 16


@dataclass(frozen=True)
class StoredChunk:
    index: int
    name: str
    size: int
    md5: str | None  # base64, as storage reports it
    crc32c: str | None


@dataclass(frozen=True)
class Receipt:
    """What the bucket holds for an upload, judged against the plan and the declared MD5s."""

    received: list[int]
    missing: list[int]  # absent, or present with the wrong size
    wrong_size: list[int]
    wrong_md5: list[int]

    @property
    def next_expected(self) -> int | None:
        return self.missing[0] if self.missing else None


def judge(plan: rules.ChunkPlan, stored: dict[int, StoredChunk], declared_md5s: list[str] | None) -> Receipt:
    received: list[int] = []
    missing: list[int] = []
    wrong_size: list[int] = []
    wrong_md5: list[int] = []
    for index in range(plan.count):
        found = stored.get(index)
        if found is None:
            missing.append(index)
        elif found.size != plan.size_of(index):
            wrong_size.append(index)
            missing.append(index)
        elif declared_md5s is not None and found.md5 != declared_md5s[index]:
            wrong_md5.append(index)
            missing.append(index)
        else:
            received.append(index)
    return Receipt(received, missing, wrong_size, wrong_md5)


class ChunkStore:
    def __init__(self, client: gcs.Client, bucket: str) -> None:
        self.client = client
        self.bucket = client.bucket(bucket)

    def stored(self, upload_id: str) -> dict[int, StoredChunk]:
        found: dict[int, StoredChunk] = {}
        for blob in self.client.list_blobs(self.bucket, prefix=rules.chunk_prefix(upload_id) + "chunk-",
                                           fields="items(name,size,md5Hash,crc32c),nextPageToken"):
            index = rules.index_of_chunk_object(upload_id, blob.name)
            if index is not None:
                found[index] = StoredChunk(index, blob.name, int(blob.size or 0), blob.md5_hash, blob.crc32c)
        return found

    def put(self, upload_id: str, index: int, data: IO[bytes], size: int, md5_digest: bytes) -> None:
        """Store one chunk; storage verifies the MD5 of what it received (a corrupted transfer is refused)."""
        blob = self.bucket.blob(rules.chunk_object(upload_id, index))
        blob.md5_hash = base64.b64encode(md5_digest).decode()
        blob.upload_from_file(data, size=size, content_type="application/octet-stream", rewind=True,
                              checksum=None)

    def head(self, upload_id: str, length: int) -> bytes:
        """The first ``length`` bytes of the file (from chunk 0)."""
        blob = self.bucket.blob(rules.chunk_object(upload_id, 0))
        return bytes(blob.download_as_bytes(start=0, end=length - 1, checksum=None))

    def delete_all(self, upload_id: str) -> int:
        """Delete every object under the upload's prefix (chunks and compose scratch); returns how many."""
        names = [b.name for b in self.client.list_blobs(self.bucket, prefix=rules.chunk_prefix(upload_id),
                                                         fields="items(name),nextPageToken")]
        self.delete(names)
        return len(names)

    def delete(self, names: Iterable[str]) -> None:
        def one(name: str) -> None:
            try:
                self.bucket.blob(name).delete()
            except gexc.NotFound:
                pass

        todo = list(names)
        if not todo:
            return
        with ThreadPoolExecutor(max_workers=min(DELETE_PARALLELISM, len(todo)), thread_name_prefix="del") as pool:
            list(pool.map(one, todo))
