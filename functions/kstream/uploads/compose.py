"""Server-side assembly of chunks and verification of the whole file, without chunk bytes in the function.

Cloud Storage composes at most 32 sources per call, so more than 32 chunks need intermediate objects. Every byte
that goes into an intermediate is composed twice, so the plan puts as few chunks into intermediates as it can: with
k intermediates the final call still has 32 - k slots for chunks taken as they are, so k = ceil((N - 32) / 31)
intermediates cover the first N - (32 - k) chunks and the rest go straight into the final call (205 chunks: 6
intermediates over 179 chunks + 26 chunks, instead of 7 over all 205; 410 chunks: 13 over 391 + 19; 33 chunks: 1
over 2 + 31). Up to 32 chunks is one call and no intermediate; up to 1024 (the maximum) two levels. Calls of one
level are independent and run in parallel. In Cloud Storage compose copies no bytes; in fake-gcs-server every
compose re-reads and re-hashes its sources, so the bytes that go through intermediates are what the plan saves.

The composite gets a CRC32C from storage for free (but no MD5); hex MD5 / SHA-256 are verified by one streaming
read of the composite, hashed as it arrives, so the function holds no more than the HTTP library's read buffer of
it.
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


def compose_groups(count: int, fan_in: int = MAX_COMPOSE_SOURCES) -> list[list[tuple[int, int]]]:
    """The compose calls below the final one, level by level: each call is a ``(start, stop)`` range of the
    items of its level (chunks at level 1, then the previous level's outputs followed by the items it left as
    they are). Empty when one call composes everything."""
    if count < 1:
        raise ValueError("nothing to compose")
    levels: list[list[tuple[int, int]]] = []
    while count > fan_in:
        if count <= fan_in * fan_in:  # the next call can be the final one: group only what does not fit in it
            groups = math.ceil((count - fan_in) / (fan_in - 1))
            covered = count - (fan_in - groups)
        else:  # too many for two levels: full groups
            groups = math.ceil(count / fan_in)
            covered = count
        bounds = [covered * g // groups for g in range(groups + 1)]  # balanced, contiguous, in order
        levels.append([(bounds[g], bounds[g + 1]) for g in range(groups)])
        count = groups + (count - covered)
    return levels


def compose_plan(count: int, fan_in: int = MAX_COMPOSE_SOURCES) -> list[int]:
    """Compose calls per level for ``count`` sources (the last level is the single final call)."""
    return [len(level) for level in compose_groups(count, fan_in)] + [1]


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
    plan = compose_groups(len(current), fan_in)
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="compose") as pool:
        for level, groups in enumerate(plan, start=1):
            names = [f"{scratch_prefix}L{level}-{g:05d}" for g in range(len(groups))]
            jobs = [(current[a:b], name) for (a, b), name in zip(groups, names, strict=True)]
            list(pool.map(lambda job: _compose(bucket, job[0], job[1], content_type), jobs))
            intermediates += names
            current = names + current[groups[-1][1]:]
    final = _compose(bucket, current, destination, content_type)
    levels = [len(groups) for groups in plan] + [1]
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
