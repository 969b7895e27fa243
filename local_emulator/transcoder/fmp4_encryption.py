"""MPEG-CENC in fMP4 for the local Transcoder's encryption step (see encryption.py): ``cenc`` by re-muxing a mux
stream's fMP4 through FFmpeg 8's mov muxer (PyAV), ``cbcs`` by rewriting that cenc output sample by sample and box by
box (no FFmpeg writes cbcs).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
from typing import TYPE_CHECKING, ClassVar

import av
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import ApiError
from .ffmpeg_plan import PlannedMux

if TYPE_CHECKING:
    from .encryption import ContentKey

# ------------------------------------------------------------------------------------------------ cenc


def encrypt_cenc(workdir: str, mux: PlannedMux, key: ContentKey) -> None:
    """Re-mux the mux stream's fMP4 (same HLS segmenting) through FFmpeg 8's mov muxer with cenc-aes-ctr."""
    playlist = os.path.join(workdir, mux.playlist)
    with open(playlist, encoding="utf-8") as handle:
        text = handle.read()
    names = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
    parts = ([init.group(1)] if init else []) + [n for i, n in enumerate(names) if n not in names[:i]]
    with tempfile.TemporaryDirectory(prefix="cenc-", dir=workdir) as tmp:
        joined = os.path.join(tmp, "clear.mp4")
        with open(joined, "wb") as out:
            for name in dict.fromkeys(parts):
                with open(os.path.join(workdir, name), "rb") as part:
                    shutil.copyfileobj(part, out)
        target = os.path.join(tmp, "out")
        os.makedirs(target)
        ext = ".m4s"
        flags = "independent_segments" + ("" if mux.individual_segments else "+single_file")
        options = {
            "hls_time": f"{mux.segment_seconds:g}", "hls_playlist_type": "vod", "hls_list_size": "0",
            "start_number": "0", "hls_flags": flags, "hls_segment_type": "fmp4",
            "hls_segment_filename": os.path.join(target, f"{mux.stem}%010d{ext}" if mux.individual_segments
                                                 else mux.file_name),
            "hls_fmp4_init_filename": mux.init_name,
            "hls_segment_options": (f"encryption_scheme=cenc-aes-ctr:encryption_key={key.key.hex()}:"
                                    f"encryption_kid={key.key_id.hex()}"),
        }
        try:
            with av.open(joined) as source, av.open(os.path.join(target, mux.playlist), "w", format="hls",
                                                      options=options) as sink:
                streams = {s.index: sink.add_stream_from_template(s) for s in source.streams
                           if s.type in ("video", "audio")}
                for packet in source.demux(*[source.streams[i] for i in streams]):
                    if packet.dts is None:
                        continue
                    packet.stream = streams[packet.stream.index]
                    sink.mux(packet)
        except av.FFmpegError as exc:
            raise ApiError("INTERNAL", f"mux stream '{mux.key}': cenc encryption failed: {exc}") from None
        for name in dict.fromkeys(parts):
            os.remove(os.path.join(workdir, name))
        for name in os.listdir(target):
            shutil.move(os.path.join(target, name), os.path.join(workdir, name))


# ------------------------------------------------------------------------------------------------ cbcs


class _Box:
    """An ISO BMFF box: ``body`` bytes, or ``head`` bytes followed by child boxes (sizes recomputed on writing)."""

    CONTAINERS: ClassVar[frozenset[bytes]] = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof",
                                                         b"traf", b"mvex", b"sinf", b"schi", b"edts", b"dinf"})
    # bytes before the children: stsd's FullBox header and entry count; the fields of a sample entry
    HEADS: ClassVar[dict[bytes, int]] = {b"stsd": 8, b"encv": 78, b"enca": 28}

    def __init__(self, kind: bytes, body: bytes = b"", head: bytes = b"", children: list[_Box] | None = None):
        self.kind, self.body, self.head, self.children = kind, body, head, children

    @classmethod
    def parse(cls, data: bytes, start: int = 0, end: int | None = None) -> list[_Box]:
        boxes, at, end = [], start, len(data) if end is None else end
        while at + 8 <= end:
            size, kind = struct.unpack(">I4s", data[at:at + 8])
            if size < 8 or at + size > end:
                raise ValueError(f"box '{kind!r}' at {at} has a bad size {size}")
            if kind in cls.CONTAINERS or kind in cls.HEADS:
                skip = cls.HEADS.get(kind, 0)
                boxes.append(cls(kind, head=data[at + 8:at + 8 + skip],
                                 children=cls.parse(data, at + 8 + skip, at + size)))
            else:
                boxes.append(cls(kind, body=data[at + 8:at + size]))
            at += size
        return boxes

    def to_bytes(self) -> bytes:
        inner = self.head + b"".join(c.to_bytes() for c in self.children) if self.children is not None else self.body
        return struct.pack(">I", 8 + len(inner)) + self.kind + inner

    def offset_of(self, target: _Box) -> int | None:
        """Where ``target`` starts in this box's bytes."""
        if target is self:
            return 0
        at = 8 + len(self.head)
        for child in self.children or []:
            inner = child.offset_of(target)
            if inner is not None:
                return at + inner
            at += len(child.to_bytes())
        return None

    def find(self, *path: bytes) -> list[_Box]:
        """Descendants along ``path`` (each step a box type)."""
        found = [self]
        for kind in path:
            found = [c for box in found for c in (box.children or []) if c.kind == kind]
        return found


def cbcs_protect(data: bytes, key: bytes, iv: bytes, crypt: int, skip: int) -> bytes:
    """ISO/IEC 23001-7 'cbcs' pattern encryption of one protected range: AES-CBC over ``crypt`` 16-byte blocks, then
    ``skip`` blocks left clear, repeated (the chain runs on across the encrypted blocks); a partial block stays
    clear."""
    out = bytearray(data)
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    at = 0
    while at + 16 <= len(data):
        length = min(crypt * 16, (len(data) - at) // 16 * 16)
        out[at:at + length] = encryptor.update(bytes(data[at:at + length]))
        at += length + skip * 16
    return bytes(out)


def _tracks(moov: _Box) -> dict[int, str]:
    """track_ID -> handler type ('vide', 'soun')."""
    tracks = {}
    for trak in moov.find(b"trak"):
        tkhd = trak.find(b"tkhd")[0].body
        track_id = struct.unpack(">I", tkhd[12:16] if tkhd[0] == 0 else tkhd[20:24])[0]
        tracks[track_id] = trak.find(b"mdia", b"hdlr")[0].body[8:12].decode("latin-1")
    return tracks


def _cbcs_init(moov: _Box, key_id: bytes, iv: bytes) -> int:
    """schm 'cenc' -> 'cbcs'; tenc version 1 with the pattern (1:9 video, 1:0 audio) and a constant IV. Returns the
    per-sample IV size the cenc fragments use."""
    iv_size = 0
    for trak in moov.find(b"trak"):
        video = trak.find(b"mdia", b"hdlr")[0].body[8:12] == b"vide"
        for entry in [*trak.find(b"mdia", b"minf", b"stbl", b"stsd", b"encv"),
                      *trak.find(b"mdia", b"minf", b"stbl", b"stsd", b"enca")]:
            for sinf in entry.find(b"sinf"):
                schm = sinf.find(b"schm")[0]
                schm.body = schm.body[:4] + b"cbcs" + struct.pack(">I", 0x00010000) + schm.body[12:]
                tenc = sinf.find(b"schi", b"tenc")[0]
                iv_size = tenc.body[7]
                pattern = 0x19 if video else 0x10
                tenc.body = (struct.pack(">I", 0x01000000) + bytes([0, pattern, 1, 0]) + key_id
                             + bytes([len(iv)]) + iv)
    return iv_size


def _cbcs_fragment(moof: _Box, data: bytes, moof_at: int, tracks: dict[int, str], key: bytes, iv: bytes,
                   iv_size: int, out: bytearray) -> bytes:
    """Re-encrypt one fragment's samples from cenc (AES-CTR) to cbcs in ``out`` (the file's bytes; same lengths) and
    return the fragment's new moof (senc without IVs, saiz/saio/trun offsets updated)."""
    old_size = len(moof.to_bytes())
    for traf in moof.find(b"traf"):
        tfhd = traf.find(b"tfhd")[0].body
        flags = int.from_bytes(tfhd[1:4], "big")
        track_id = struct.unpack(">I", tfhd[4:8])[0]
        at = 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0) + (4 if flags & 0x8 else 0)
        default_size = struct.unpack(">I", tfhd[at:at + 4])[0] if flags & 0x10 else 0
        base = struct.unpack(">Q", tfhd[8:16])[0] if flags & 0x1 else moof_at
        samples: list[tuple[int, int]] = []  # (file offset, size)
        for trun in traf.find(b"trun"):
            body = trun.body
            tflags = int.from_bytes(body[1:4], "big")
            count = struct.unpack(">I", body[4:8])[0]
            pos = 8
            offset = struct.unpack(">i", body[pos:pos + 4])[0] if tflags & 0x1 else 0
            pos += (4 if tflags & 0x1 else 0) + (4 if tflags & 0x4 else 0)
            start = base + offset if tflags & 0x1 else (samples[-1][0] + samples[-1][1] if samples else base)
            for _ in range(count):
                pos += 4 if tflags & 0x100 else 0
                size = struct.unpack(">I", body[pos:pos + 4])[0] if tflags & 0x200 else default_size
                pos += (4 if tflags & 0x200 else 0) + (4 if tflags & 0x400 else 0) + (4 if tflags & 0x800 else 0)
                samples.append((start, size))
                start += size
        sencs = traf.find(b"senc")
        if not sencs:
            continue
        senc = sencs[0].body
        has_subsamples = bool(int.from_bytes(senc[1:4], "big") & 0x2)
        pos, entries = 8, []
        video = tracks.get(track_id) == "vide"
        for sample_at, size in samples:
            sample_iv = senc[pos:pos + iv_size] + bytes(16 - iv_size)
            pos += iv_size
            ranges = [(0, size)]
            raw_subsamples = b""
            if has_subsamples:
                (n,) = struct.unpack(">H", senc[pos:pos + 2])
                raw_subsamples = senc[pos:pos + 2 + 6 * n]
                ranges = [struct.unpack(">HI", senc[pos + 2 + 6 * i:pos + 8 + 6 * i]) for i in range(n)]
                pos += 2 + 6 * n
            sample = bytes(data[sample_at:sample_at + size])
            decryptor = Cipher(algorithms.AES(key), modes.CTR(sample_iv)).decryptor()
            clear, cursor, protected = bytearray(sample), 0, []
            for clear_bytes, protected_bytes in ranges:
                cursor += clear_bytes
                protected.append((cursor, protected_bytes))
                cursor += protected_bytes
            plain = decryptor.update(b"".join(sample[a:a + n] for a, n in protected)) + decryptor.finalize()
            used = 0
            for a, n in protected:
                clear[a:a + n] = cbcs_protect(plain[used:used + n], key, iv, 1, 9 if video else 0)
                used += n
            out[sample_at:sample_at + size] = clear
            entries.append(raw_subsamples)
        sencs[0].body = senc[:8] + b"".join(entries)
        saiz = traf.find(b"saiz")[0]
        sizes = [len(e) for e in entries]
        default = sizes[0] if sizes and len(set(sizes)) == 1 else 0
        saiz.body = struct.pack(">IBI", 0, default, len(sizes)) + (b"" if default or not sizes else bytes(sizes))
    # offsets that depend on the new moof's layout
    delta = len(moof.to_bytes()) - old_size
    for traf in moof.find(b"traf"):
        for trun in traf.find(b"trun"):
            if int.from_bytes(trun.body[1:4], "big") & 0x1:
                offset = struct.unpack(">i", trun.body[8:12])[0] + delta
                trun.body = trun.body[:8] + struct.pack(">i", offset) + trun.body[12:]
    for traf in moof.find(b"traf"):
        if traf.find(b"senc"):  # saio: the first senc entry, from the moof's start (same size: layout unchanged)
            entries_at = moof.offset_of(traf.find(b"senc")[0]) + 16  # header, version/flags, sample_count
            traf.find(b"saio")[0].body = struct.pack(">III", 0, 1, entries_at)
    return moof.to_bytes()


def _cbcs_file(path: str, moov: _Box | None, tracks: dict[int, str], key: ContentKey, iv: bytes,
               iv_size: int) -> list[tuple[int, int]]:
    """Rewrite one fMP4 file (init and/or fragments) from cenc to cbcs; return (old, new) offsets of its top-level
    boxes and its old and new ends, for the byte ranges of the playlist."""
    with open(path, "rb") as handle:
        data = handle.read()
    out = bytearray(data)
    boxes, at, starts = [], 0, []
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        boxes.append((at, size, kind))
        at += size
    pieces: list[bytes] = []
    moof_deltas: dict[int, int] = {}
    for at, size, kind in boxes:
        if kind == b"moov" and moov is not None:
            pieces.append(moov.to_bytes())
        elif kind == b"moof":
            moof = _Box.parse(data, at, at + size)[0]
            new = _cbcs_fragment(moof, data, at, tracks, key.key, iv, iv_size, out)
            moof_deltas[at] = len(new) - size
            pieces.append(new)
        else:
            pieces.append(b"")  # filled from ``out`` below (mdat re-encrypted in place)
    result, new_at = bytearray(), 0
    for i, (at, size, kind) in enumerate(boxes):
        piece = pieces[i] or bytes(out[at:at + size])
        if kind == b"sidx":  # each reference covers the fragments up to the next sidx: add their growth
            later = boxes[i + 1:]
            stop = next((j for j, b in enumerate(later) if b[2] == b"sidx"), len(later))
            growth = sum(moof_deltas.get(b[0], 0) for b in later[:stop])
            version = piece[8]
            refs_at = 8 + 4 + 8 + (8 if version == 0 else 16) + 2
            count = struct.unpack(">H", piece[refs_at:refs_at + 2])[0]
            if count == 1:
                word = struct.unpack(">I", piece[refs_at + 2:refs_at + 6])[0]
                word = (word & 0x80000000) | ((word & 0x7FFFFFFF) + growth)
                piece = piece[:refs_at + 2] + struct.pack(">I", word) + piece[refs_at + 6:]
        starts.append((at, new_at))
        result += piece
        new_at += len(piece)
    starts.append((len(data), len(result)))
    with open(path, "wb") as handle:
        handle.write(result)
    return starts


def encrypt_cbcs(workdir: str, mux: PlannedMux, key: ContentKey, fairplay_uri: str | None) -> None:
    """cbcs: FFmpeg writes cenc (AES-CTR, subsamples, senc/saiz/saio); each sample is then decrypted and encrypted
    again with the cbcs pattern (1:9 video, whole blocks for audio) under a constant IV, and the boxes rewritten."""
    encrypt_cenc(workdir, mux, key)
    iv = key.iv or bytes(16)
    playlist = os.path.join(workdir, mux.playlist)
    with open(playlist, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    init = next(re.search(r'URI="([^"]+)"', ln).group(1) for ln in lines if ln.startswith("#EXT-X-MAP:"))
    with open(os.path.join(workdir, init), "rb") as handle:
        head = handle.read()
    moov = next(b for b in _Box.parse(head[:_top_end(head, b"moov")]) if b.kind == b"moov")
    tracks = _tracks(moov)
    iv_size = _cbcs_init(moov, key.key_id, iv)
    files = [init] + [ln for ln in lines if ln and not ln.startswith("#") and ln != init]
    moved = {name: _cbcs_file(os.path.join(workdir, name), moov if name == init else None, tracks, key, iv, iv_size)
             for name in dict.fromkeys(files)}

    def shift(name: str, old: int) -> int:
        return next(new for at, new in moved[name] if at == old)

    out = []
    key_line = (f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{fairplay_uri}",KEYFORMAT="com.apple.streamingkeydelivery",'
                'KEYFORMATVERSIONS="1"') if fairplay_uri else ""
    pending: tuple[int, int] | None = None
    for ln in lines:
        if ln.startswith("#EXT-X-MAP:") and "BYTERANGE" in ln:
            length, offset = (int(n) for n in re.search(r'BYTERANGE="(\d+)@(\d+)"', ln).groups())
            start, end = shift(init, offset), shift(init, offset + length)
            ln = re.sub(r'BYTERANGE="[^"]+"', f'BYTERANGE="{end - start}@{start}"', ln)
        if ln.startswith("#EXTINF:") and key_line:
            out.append(key_line)
            key_line = ""
        if ln.startswith("#EXT-X-BYTERANGE:"):
            length, _, offset = ln.split(":", 1)[1].partition("@")
            pending = (int(length), int(offset))
            continue
        if ln and not ln.startswith("#") and pending is not None:
            start, end = shift(ln, pending[1]), shift(ln, pending[1] + pending[0])
            out.append(f"#EXT-X-BYTERANGE:{end - start}@{start}")
            pending = None
        out.append(ln)
    with open(playlist, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + "\n")


def _top_end(data: bytes, kind: bytes) -> int:
    """The end offset of the first top-level box of ``kind``."""
    at = 0
    while at + 8 <= len(data):
        size, found = struct.unpack(">I4s", data[at:at + 8])
        if found == kind:
            return at + size
        at += size
    raise ValueError(f"no '{kind!r}' box")
