"""Checksums of a local file for an upload: per-chunk MD5 (bound into the signed URLs) and the whole file's
finalChecksum, in one read of the file; chunks are hashed on several threads (hashlib and crc32c release the GIL)
and the whole-file CRC32C is combined from the chunks' CRCs.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import google_crc32c

CRC32C_POLY_REVERSED = 0x82F63B78
_PIECE = 4 * 1024 * 1024


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32c_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC32C of A+B from crc(A), crc(B) and len(B) (zlib's crc32_combine, Castagnoli polynomial)."""
    if length2 <= 0:
        return crc1
    odd = [CRC32C_POLY_REVERSED] + [1 << n for n in range(31)]  # operator for one zero bit
    even = _gf2_square(odd)  # two zero bits
    odd = _gf2_square(even)  # four zero bits
    while True:
        even = _gf2_square(odd)
        if length2 & 1:
            crc1 = _gf2_times(even, crc1)
        length2 >>= 1
        if not length2:
            break
        odd = _gf2_square(even)
        if length2 & 1:
            crc1 = _gf2_times(odd, crc1)
        length2 >>= 1
        if not length2:
            break
    return crc1 ^ crc2


def crc32c_text(value: int) -> str:
    """The finalChecksum form of a CRC32C: ``crc32c:`` + base64 of its 4 big-endian bytes (as storage shows it)."""
    return "crc32c:" + base64.b64encode(value.to_bytes(4, "big")).decode()


@dataclass(frozen=True)
class FileChecksums:
    chunk_md5s: list[str]  # base64 (Content-MD5 form)
    final: str  # finalChecksum as the API takes it


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
            whole = pool.submit(_whole_digest, fd, size, algorithm) if algorithm != "crc32c" else None
            sums = list(pool.map(one, spans))
            final_digest = whole.result() if whole else None
    finally:
        os.close(fd)
    md5s = [base64.b64encode(md5).decode() for md5, _ in sums] if chunk_md5s else []
    if algorithm == "crc32c":
        crc = sums[0][1]
        for (_, chunk_crc), (_, length) in zip(sums[1:], spans[1:], strict=True):
            crc = crc32c_combine(crc, chunk_crc, length)
        return FileChecksums(md5s, crc32c_text(crc))
    assert final_digest is not None
    return FileChecksums(md5s, final_digest)


def _whole_digest(fd: int, size: int, algorithm: str) -> str:
    digest = hashlib.md5() if algorithm == "md5" else hashlib.sha256()  # noqa: S324
    offset = 0
    while offset < size:
        data = os.pread(fd, _PIECE, offset)
        if not data:
            raise OSError("file shrank while reading it")
        digest.update(data)
        offset += len(data)
    return digest.hexdigest()
