"""H.264/H.265 NAL unit byte stuffing (emulation prevention, ITU-T H.264 section 7.4.1): writers of SEI (cea608.py)
and of encrypted slices (ts_sample_aes.py) escape; readers of an SPS (manifests.py) unescape."""

from __future__ import annotations


def escape(rbsp: bytes) -> bytes:
    """Insert 0x03 after two zero bytes followed by a byte <= 3, so no start code appears inside a NAL unit."""
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def unescape(nal: bytes) -> bytes:
    """Remove the emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")
