"""Server-side assembly of chunks and verification of the whole file, without chunk bytes in the function.

Cloud Storage composes at most 32 sources per call, so N chunks are composed as a tree: groups of up to 32 into
intermediate objects, level by level, until one call can make the final object (410 chunks: 13 + 1 = 14 calls;
the 1024-chunk maximum: 32 + 1). Calls of one level are independent and run in parallel. The composite gets a
CRC32C from storage for free (but no MD5); hex MD5 / SHA-256 are verified by one streaming read of the composite,
hashed as it arrives, so the function holds no more than the HTTP library's read buffer of it.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from google.cloud import storage as gcs

MAX_COMPOSE_SOURCES = 32
COMPOSE_PARALLELISM = 8


def compose_plan(count: int, fan_in: int = MAX_COMPOSE_SOURCES) -> list[int]:
    """Compose calls per level for ``count`` sources (the last level is the single final call)."""
    if count < 1:
        raise ValueError("nothing to compose")
    levels: list[int] = []
    remaining = count
    while True:
        calls = math.ceil(remaining / fan_in)
        levels.append(calls)
        if calls == 1:
            return levels
        remaining = calls


@dataclass
class ComposeResult:
    blob: gcs.Blob
    calls: int
    levels: list[int]
    intermediates: list[str] = field(default_factory=list)
    seconds: float = 0.0


def compose_tree(bucket: gcs.Bucket, sources: Sequence[str], destination: str, scratch_prefix: str,
                 content_type: str, fan_in: int = MAX_COMPOSE_SOURCES,
                 parallelism: int = COMPOSE_PARALLELISM) -> ComposeResult:
    """Compose ``sources`` (object names, in order) into ``destination``; intermediates go under ``scratch_prefix``.

    The caller deletes the intermediates (``result.intermediates``) once it no longer needs them.
    """
    started = time.perf_counter()
    current = list(sources)
    intermediates: list[str] = []
    levels: list[int] = []
    level = 0
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="compose") as pool:
        while len(current) > fan_in:
            level += 1
            groups = [current[i:i + fan_in] for i in range(0, len(current), fan_in)]
            names = [f"{scratch_prefix}L{level}-{g:05d}" for g in range(len(groups))]
            list(pool.map(lambda job: _compose(bucket, job[0], job[1], content_type), zip(groups, names,
                                                                                         strict=True)))
            intermediates += names
            levels.append(len(groups))
            current = names
    final = _compose(bucket, current, destination, content_type)
    levels.append(1)
    return ComposeResult(final, sum(levels), levels, intermediates, time.perf_counter() - started)


def _compose(bucket: gcs.Bucket, sources: Sequence[str], destination: str, content_type: str) -> gcs.Blob:
    target = bucket.blob(destination)
    target.content_type = content_type
    target.compose([bucket.blob(name) for name in sources])
    return target


# -- whole-file checksums -----------------------------------------------------------------------------------------
class _DigestSink:
    """A write-only file object that hashes what it is given (and keeps nothing)."""

    def __init__(self, algorithm: str, progress: Callable[[int], None] | None) -> None:
        self.digest = hashlib.md5() if algorithm == "md5" else hashlib.sha256()  # noqa: S324 (the spec's check)
        self.done = 0
        self.progress = progress

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.done += len(data)
        if self.progress:
            self.progress(self.done)
        return len(data)


def streamed_digest(blob: gcs.Blob, algorithm: str, progress: Callable[[int], None] | None = None) -> str:
    """Hex MD5 or SHA-256 of ``blob``'s bytes from one streaming download (the library hands over 8 KiB at a time
    and resumes from where it stopped on a retry), pinned to the generation that was composed."""
    sink = _DigestSink(algorithm, progress)
    blob.download_to_file(sink, checksum=None, raw_download=True,  # type: ignore[arg-type]
                          if_generation_match=blob.generation)
    return sink.digest.hexdigest()
