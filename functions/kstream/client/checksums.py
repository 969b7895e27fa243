"""Checksums of a local file for an upload: per-chunk MD5 (Content-MD5) and the whole file's finalChecksum.

Two ways to get them:

- while uploading (the uploader's default): each chunk, once read for its PUT, is hashed there (``chunk_sums``:
  its MD5 for the Content-MD5 header, its CRC32C), and the file's CRC32C is combined from the chunks' CRCs at the
  end (``combine_crc32c``); no pass over the file before the first byte is sent;
- before ``start`` (``file_checksums``), when the chunk MD5s must be declared to the API and bound into the signed
  URLs: one read of the file, chunks hashed on several threads (hashlib and crc32c release the GIL).

An MD5 or SHA-256 finalChecksum is one sequential read of the whole file (``whole_digest``), which the uploader
runs on a thread of its own while the chunks go out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, ThreadPoolExecutor
from dataclasses import dataclass

import google_crc32c

CRC32C_POLY_REVERSED = 0x82F63B78
_PIECE = 4 * 1024 * 1024


def _gf2_times(matrix: Sequence[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


@functools.lru_cache(maxsize=64)
def _zeros_operator(length: int) -> tuple[int, ...]:
    """The GF(2) matrix that runs a CRC32C register over ``length`` zero bytes (kept: chunks share one length)."""
    operator = [CRC32C_POLY_REVERSED] + [1 << n for n in range(31)]  # one zero bit
    result = [1 << n for n in range(32)]  # identity
    bits = length * 8
    while bits:
        if bits & 1:
            result = [_gf2_times(operator, column) for column in result]
        bits >>= 1
        if bits:
            operator = _gf2_square(operator)
    return tuple(result)


def crc32c_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC32C of A+B from crc(A), crc(B) and len(B) (zlib's crc32_combine, Castagnoli polynomial)."""
    if length2 <= 0:
        return crc1
    return _gf2_times(_zeros_operator(length2), crc1) ^ crc2


def crc32c_text(value: int) -> str:
    """The finalChecksum form of a CRC32C: ``crc32c:`` + base64 of its 4 big-endian bytes (as storage shows it)."""
    return "crc32c:" + base64.b64encode(value.to_bytes(4, "big")).decode()


@dataclass(frozen=True)
class FileChecksums:
    chunk_md5s: list[str]  # base64 (Content-MD5 form)
    final: str  # finalChecksum as the API takes it


def chunk_sums(data: bytes, with_md5: bool = True) -> tuple[bytes, int]:
    """(MD5 digest, or b"" without ``with_md5``; CRC32C) of one chunk held in memory."""
    md5 = hashlib.md5(data).digest() if with_md5 else b""  # noqa: S324 (Content-MD5 is MD5 by definition)
    return md5, google_crc32c.value(data)


def combine_crc32c(crcs: list[int], lengths: list[int]) -> str:
    """The finalChecksum of a file from its chunks' CRC32Cs and lengths, in order."""
    crc = crcs[0]
    for chunk_crc, length in zip(crcs[1:], lengths[1:], strict=True):
        crc = crc32c_combine(crc, chunk_crc, length)
    return crc32c_text(crc)


def _chunk_sums(fd: int, offset: int, length: int, with_md5: bool) -> tuple[bytes, int]:
    md5 = hashlib.md5()  # noqa: S324 (Content-MD5 is MD5 by definition)
    crc = 0
    done = 0
    while done < length:
        data = os.pread(fd, min(_PIECE, length - done), offset + done)
        if not data:
            raise OSError(f"file shrank while reading it (offset {offset + done})")
        if with_md5:
            md5.update(data)
        crc = google_crc32c.extend(crc, data)
        done += len(data)
    return md5.digest(), crc


def file_checksums(path: str, size: int, chunk_size: int, algorithm: str = "crc32c", threads: int = 2,
                   progress: Callable[[int], None] | None = None, chunk_md5s: bool = True) -> FileChecksums:
    """Per-chunk MD5s (empty without ``chunk_md5s``) and the whole file's ``algorithm`` checksum (crc32c, md5 or
    sha256)."""
    count = max(1, -(-size // chunk_size))
    spans = [(i * chunk_size, min(chunk_size, size - i * chunk_size)) for i in range(count)]
    fd = os.open(path, os.O_RDONLY)
    try:
        def one(span: tuple[int, int]) -> tuple[bytes, int]:
            found = _chunk_sums(fd, *span, with_md5=chunk_md5s)
            if progress:
                progress(span[1])
            return found

        with ThreadPoolExecutor(max_workers=max(1, threads) + 1, thread_name_prefix="hash") as pool:
            whole = pool.submit(whole_digest, fd, size, algorithm) if algorithm != "crc32c" else None
            sums = list(pool.map(one, spans))
            final_digest = whole.result() if whole else None
    finally:
        os.close(fd)
    md5s = [base64.b64encode(md5).decode() for md5, _ in sums] if chunk_md5s else []
    if algorithm == "crc32c":
        return FileChecksums(md5s, combine_crc32c([crc for _, crc in sums], [length for _, length in spans]))
    assert final_digest is not None
    return FileChecksums(md5s, final_digest)


def span_crc32c(fd: int, offset: int, length: int) -> int:
    """CRC32C of ``length`` bytes of ``fd`` from ``offset`` (a chunk stored by an earlier run of a resumed upload)."""
    return _chunk_sums(fd, offset, length, with_md5=False)[1]


def whole_digest(fd: int, size: int, algorithm: str, cancelled: Callable[[], bool] | None = None) -> str:
    """Hex MD5 or SHA-256 of the first ``size`` bytes of ``fd``, read in order; CancelledError as soon as
    ``cancelled()`` says so (checked every 4 MiB)."""
    digest = hashlib.md5() if algorithm == "md5" else hashlib.sha256()  # noqa: S324
    offset = 0
    while offset < size:
        if cancelled is not None and cancelled():
            raise CancelledError("whole-file digest abandoned")
        data = os.pread(fd, _PIECE, offset)
        if not data:
            raise OSError("file shrank while reading it")
        digest.update(data)
        offset += len(data)
    return digest.hexdigest()
