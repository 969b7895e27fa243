"""Encryption of a job's outputs after packaging: the keys from a local stand-in for Secret Manager, AES-128 HLS
segments encrypted in place, MPEG-CENC (``cenc``) fMP4 re-muxed encrypted, and what the manifests must say.

Keys. On Google Cloud each ``Encryption.secretManagerKeySource.secretVersion`` names a Secret Manager secret version
whose payload is the JSON of the "Encrypt transcoded content" guide::

    {"encryptionKeys": [{"keyId": "<32 hex>", "key": "<32 hex>", "iv": "<32 hex, optional>",
                         "keyUri": "<what the player fetches>", "matchers": [{"muxStreams": ["ts_aes128"]}]}]}

There is no Secret Manager emulator, so the local Transcoder reads the same payload from a file named after the
version under a directory given when it starts (``--secrets-dir`` or ``TRANSCODER_SECRETS_DIR``):
``<dir>/projects/<project>/secrets/<secret>/versions/<n>``. A mux stream takes the key whose ``matchers`` name it,
else the one key without matchers.

What is written:

- ``aes128`` (HLS, ts): every media segment (each byte range of a single-file mux stream) is encrypted whole with
  AES-128-CBC and PKCS#7 padding; the IV is the secret's ``iv`` when given (written as ``IV=0x...``), otherwise the
  segment's media sequence number, as RFC 8216 section 5.2 specifies. The media playlist gets
  ``#EXT-X-KEY:METHOD=AES-128,URI="<keyUri>"``: the key URI comes from the secret (serving the key there, to whom,
  is the key server's job, not the Transcoder's).
- ``mpegCenc`` ``cenc`` (DASH, fmp4): the mux stream's fMP4 is re-muxed with FFmpeg 8's mov muxer (PyAV) as
  ``cenc-aes-ctr`` with the secret's key and keyId (``tenc`` in the init segment, ``senc``/``saiz``/``saio`` in every
  fragment; Debian's ffmpeg 5.1 writes fragmented CENC wrongly: one ``senc`` in the moov for the first fragment).
- ``mpegCenc`` ``cbcs`` (DASH, or HLS fmp4 with FairPlay): no FFmpeg writes cbcs, so the cenc output is rewritten:
  each sample is decrypted (AES-CTR, per-sample IV, subsamples from ``senc``) and encrypted again with the cbcs
  pattern (AES-CBC, 1 of every 10 blocks for video, every whole block for audio, the IV reset to the constant IV at
  each subsample), ``schm`` becomes ``cbcs``, ``tenc`` version 1 with the pattern and the constant IV (the secret's
  ``iv``, else zero), ``senc`` loses its IVs, and ``saiz``/``saio``/``trun``/``sidx`` and the playlist's byte ranges
  follow the new sizes. An HLS media playlist gets ``#EXT-X-KEY:METHOD=SAMPLE-AES,URI="<keyUri>",
  KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"`` (the ``skd://`` URI of the secret).
- DASH: ``ContentProtection`` for mp4protection (``value`` cenc/cbcs, ``cenc:default_KID``) and a ``cenc:pssh`` for
  each of Widevine and PlayReady that the encryption enables. Licences are a licence server's job: none is written,
  and no ``pssh`` box goes into the init segments (players take the MPD's).
- ``sampleAes`` (HLS ts, FairPlay): Apple's MPEG-2 Stream Encryption Format, written here (FFmpeg reads it but has
  no writer): H.264 slice NAL units keep 32 bytes clear, then 1 of every 10 16-byte blocks is AES-128-CBC
  encrypted (IV reset per NAL unit, start code emulation prevention applied after); AAC ADTS frames keep the header
  and 16 bytes clear, then every whole block is encrypted (IV reset per frame); the PES packets are re-packetised;
  the PMT gets stream types 0xdb / 0xcf, private data indicators 'zavc' / 'aacd' and the audio setup information
  ('apad' registration: 'zaac', the first ADTS header). IV and key tag as for cbcs HLS, plus ``IV=0x..`` when the
  secret has one (otherwise the media sequence number).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import struct
import tempfile
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import av
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import ApiError
from .ffmpeg_plan import PlannedMux

SECRETS_DIR_ENV = "TRANSCODER_SECRETS_DIR"
_HEX16 = re.compile(r"^[0-9a-fA-F]{32}$")

# DRM system ids (DASH-IF registry)
WIDEVINE = uuid.UUID("edef8ba9-79d6-4ace-a3c8-27dcd51d21ed")
PLAYREADY = uuid.UUID("9a04f079-9840-4286-ab92-e65be0885f95")
CENC_NAMESPACE = "urn:mpeg:cenc:2013"


# ------------------------------------------------------------------------------------------------ keys


@dataclass(frozen=True)
class ContentKey:
    key: bytes
    key_id: bytes | None
    iv: bytes | None
    uri: str


class SecretDirectory:
    """Secret Manager stand-in: the payload of ``projects/P/secrets/S/versions/N`` is the file of that path."""

    def __init__(self, root: str | None):
        self.root = root

    @classmethod
    def from_environment(cls) -> SecretDirectory:
        return cls(os.environ.get(SECRETS_DIR_ENV) or None)

    def access(self, version: str) -> bytes:
        if not self.root:
            raise ApiError("FAILED_PRECONDITION", f"Secret version {version}: the local Transcoder has no secret "
                                                  f"directory (start it with --secrets-dir or {SECRETS_DIR_ENV})")
        path = os.path.join(self.root, *version.split("/"))
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise ApiError("NOT_FOUND", f"Secret version {version} not found (no file {path})") from None


def _hex16(value, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX16.match(value):
        raise ApiError("INVALID_ARGUMENT", f"{where} must be 32 hexadecimal digits (16 bytes)")
    return bytes.fromhex(value)


def content_key(payload: bytes, version: str, mux_key: str, *, need_uri: bool, need_key_id: bool) -> ContentKey:
    """The key of ``mux_key`` in a secret payload (the guide's ``encryptionKeys`` JSON)."""
    try:
        keys = json.loads(payload.decode("utf-8"))["encryptionKeys"]
        if not isinstance(keys, list):
            raise TypeError
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise ApiError("INVALID_ARGUMENT", f"Secret version {version}: the payload must be JSON with an "
                                           "'encryptionKeys' list") from None
    named = [k for k in keys if isinstance(k, dict) and any(
        mux_key in (m or {}).get("muxStreams", []) for m in k.get("matchers") or [])]
    default = [k for k in keys if isinstance(k, dict) and not k.get("matchers")]
    chosen = (named or default or [None])[0]
    if chosen is None:
        raise ApiError("INVALID_ARGUMENT", f"Secret version {version}: no entry of encryptionKeys matches mux "
                                           f"stream '{mux_key}' (matchers[].muxStreams) and none is without "
                                           "matchers")
    where = f"Secret version {version}: encryptionKeys entry for mux stream '{mux_key}'"
    key = _hex16(chosen.get("key"), f"{where}: key")
    key_id = _hex16(chosen.get("keyId"), f"{where}: keyId") if chosen.get("keyId") or need_key_id else None
    iv = _hex16(chosen["iv"], f"{where}: iv") if chosen.get("iv") else None
    uri = chosen.get("keyUri") or ""
    if need_uri and not uri:
        raise ApiError("INVALID_ARGUMENT", f"{where}: keyUri is required (the URI the HLS playlist gives players)")
    if '"' in uri or "\n" in uri:
        raise ApiError("INVALID_ARGUMENT", f"{where}: keyUri may not contain '\"' or a line break")
    return ContentKey(key, key_id, iv, uri)


# ------------------------------------------------------------------------------------------------ what manifests say


@dataclass
class Protection:
    """One encrypted mux stream, as its manifests must signal it."""

    mode: str  # aes128 | mpegCenc
    scheme: str  # "" | cenc
    key: ContentKey
    drm_systems: tuple[str, ...] = field(default_factory=tuple)

    def dash_elements(self) -> list[tuple[str, dict[str, str], str | None]]:
        """(tag, attributes, pssh base64) of each ContentProtection element of a DASH Representation."""
        kid = str(uuid.UUID(bytes=self.key.key_id))
        out: list[tuple[str, dict[str, str], str | None]] = [
            ("ContentProtection", {"schemeIdUri": "urn:mpeg:dash:mp4protection:2011", "value": self.scheme,
                                   "cenc:default_KID": kid}, None)]
        if "widevine" in self.drm_systems:
            out.append(("ContentProtection", {"schemeIdUri": f"urn:uuid:{WIDEVINE}", "value": "Widevine"},
                        base64.b64encode(widevine_pssh(self.key.key_id, self.scheme)).decode()))
        if "playready" in self.drm_systems:
            out.append(("ContentProtection", {"schemeIdUri": f"urn:uuid:{PLAYREADY}", "value": "MSPR 2.0"},
                        base64.b64encode(playready_pssh(self.key.key_id, self.scheme)).decode()))
        return out


def pssh_box(system: uuid.UUID, data: bytes) -> bytes:
    """A version 0 'pssh' box (ISO/IEC 23001-7 section 8.1)."""
    body = struct.pack(">I", 0) + system.bytes + struct.pack(">I", len(data)) + data
    return struct.pack(">I", 8 + len(body)) + b"pssh" + body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def widevine_pssh(key_id: bytes, scheme: str = "cenc") -> bytes:
    """WidevinePsshData: key_ids (field 2) holding the one key id; protection_scheme (field 9) for cbcs."""
    data = b"\x12\x10" + key_id
    if scheme == "cbcs":
        data += b"\x48" + _varint(int.from_bytes(b"cbcs", "big"))
    return pssh_box(WIDEVINE, data)


def playready_pssh(key_id: bytes, scheme: str = "cenc") -> bytes:
    """A PlayReady Object holding one WRM header (the KID as a little-endian GUID in base64): version 4.0 with AESCTR
    for cenc, 4.3 with AESCBC for cbcs; no LA_URL: the licence server's URL is the player's configuration."""
    kid = base64.b64encode(uuid.UUID(bytes=key_id).bytes_le).decode()
    namespace = 'xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader"'
    if scheme == "cbcs":
        header = (f'<WRMHEADER {namespace} version="4.3.0.0"><DATA><PROTECTINFO><KIDS>'
                  f'<KID ALGID="AESCBC" VALUE="{kid}"></KID></KIDS></PROTECTINFO></DATA></WRMHEADER>')
    else:
        header = (f'<WRMHEADER {namespace} version="4.0.0.0"><DATA><PROTECTINFO><KEYLEN>16</KEYLEN>'
                  f"<ALGID>AESCTR</ALGID></PROTECTINFO><KID>{kid}</KID></DATA></WRMHEADER>")
    header = header.encode("utf-16-le")
    record = struct.pack("<HH", 1, len(header)) + header
    return pssh_box(PLAYREADY, struct.pack("<IH", 6 + len(record), 1) + record)


# ------------------------------------------------------------------------------------------------ AES-128


def aes128_cbc(data: bytes, key: bytes, iv: bytes) -> bytes:
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padder.update(data) + padder.finalize()) + encryptor.finalize()


def aes128_cbc_decrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


def _encrypt_hls_aes128(workdir: str, mux: PlannedMux, key: ContentKey) -> None:
    """Encrypt every media segment of ``mux`` (files or byte ranges); add EXT-X-KEY to its media playlist."""
    playlist = os.path.join(workdir, mux.playlist)
    with open(playlist, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    sequence = 0
    for line in lines:
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
    out: list[str] = []
    pending_range: tuple[int, int] | None = None
    next_offset = 0
    rewritten: dict[str, bytearray] = {}  # single-file mux stream: the encrypted ranges, in order
    sources: dict[str, bytes] = {}
    key_line = f'#EXT-X-KEY:METHOD=AES-128,URI="{key.uri}"' + (f",IV=0x{key.iv.hex()}" if key.iv else "")
    number = sequence
    for line in lines:
        if line.startswith("#EXTINF:") and key_line:
            out.append(key_line)
            key_line = ""
        if line.startswith("#EXT-X-BYTERANGE:"):
            length, _, offset = line.split(":", 1)[1].partition("@")
            pending_range = (int(length), int(offset) if offset else next_offset)
            next_offset = pending_range[0] + pending_range[1]
            continue
        if line and not line.startswith("#"):
            iv = key.iv or number.to_bytes(16, "big")
            path = os.path.join(workdir, line)
            if pending_range is None:
                with open(path, "rb") as handle:
                    clear = handle.read()
                with open(path, "wb") as handle:
                    handle.write(aes128_cbc(clear, key.key, iv))
            else:
                if line not in sources:
                    with open(path, "rb") as handle:
                        sources[line] = handle.read()
                    rewritten[line] = bytearray()
                length, offset = pending_range
                encrypted = aes128_cbc(sources[line][offset:offset + length], key.key, iv)
                out.append(f"#EXT-X-BYTERANGE:{len(encrypted)}@{len(rewritten[line])}")
                rewritten[line] += encrypted
                pending_range = None
            number += 1
        out.append(line)
    for name, data in rewritten.items():
        with open(os.path.join(workdir, name), "wb") as handle:
            handle.write(data)
    with open(playlist, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + "\n")


# ------------------------------------------------------------------------------------------------ MPEG-CENC


def _encrypt_fmp4_cenc(workdir: str, mux: PlannedMux, key: ContentKey) -> None:
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


def _cbcs_protect(data: bytes, key: bytes, iv: bytes, crypt: int, skip: int) -> bytes:
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
                clear[a:a + n] = _cbcs_protect(plain[used:used + n], key, iv, 1, 9 if video else 0)
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
            later = [b for b in boxes[i + 1:]]
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


def _encrypt_fmp4_cbcs(workdir: str, mux: PlannedMux, key: ContentKey, fairplay_uri: str | None) -> None:
    """cbcs: FFmpeg writes cenc (AES-CTR, subsamples, senc/saiz/saio); each sample is then decrypted and encrypted
    again with the cbcs pattern (1:9 video, whole blocks for audio) under a constant IV, and the boxes rewritten."""
    _encrypt_fmp4_cenc(workdir, mux, key)
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


# ------------------------------------------------------------------------------------------------ SAMPLE-AES TS

TS_PACKET = 188
_SAMPLE_AES_TYPES = {0x1B: (0xDB, b"zavc"), 0x0F: (0xCF, b"aacd")}  # H.264, AAC (ADTS): type, private data tag


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _escape(nal: bytes) -> bytes:
    """H.264 start code emulation prevention: 0x03 after two zero bytes followed by a byte <= 3."""
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sample_aes_nal(nal: bytes, key: bytes, iv: bytes) -> bytes:
    """Apple's MPEG-2 Stream Encryption Format, H.264: a slice NAL unit (types 1, 5) longer than 48 bytes keeps its
    type byte and 31 more clear, then one 16-byte block in ten is AES-128-CBC encrypted (IV reset per NAL unit, the
    chain running across its encrypted blocks; a last block of 16 bytes or fewer stays clear); start code emulation
    prevention is applied to the result."""
    if not nal or nal[0] & 0x1F not in (1, 5) or len(nal) <= 48:
        return nal
    out, at = bytearray(nal), 32
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    while at < len(nal):
        if len(nal) - at > 16:
            out[at:at + 16] = encryptor.update(nal[at:at + 16])
            at += 16
        at += min(144, len(nal) - at)
    return _escape(bytes(out))


def _sample_aes_video(payload: bytes, key: bytes, iv: bytes) -> bytes:
    """Every NAL unit of an Annex B payload through sample_aes_nal, start codes kept."""
    starts = [m.start() for m in re.finditer(b"\x00\x00\x01", payload)]
    if not starts:
        return payload
    out = bytearray(payload[:starts[0] + 3])
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(payload)
        nal = payload[start + 3:end]
        trailing = len(nal) - len(nal.rstrip(b"\x00")) if i + 1 < len(starts) else 0  # a 4-byte start code's zero
        body = nal[:len(nal) - trailing]
        out += sample_aes_nal(body, key, iv) + nal[len(nal) - trailing:]
        if i + 1 < len(starts):
            out += b"\x00\x00\x01"
    return bytes(out)


def _sample_aes_audio(payload: bytes, key: bytes, iv: bytes) -> bytes:
    """AAC in ADTS: each frame keeps its header and 16 more bytes clear; the whole 16-byte blocks after them are
    AES-128-CBC encrypted, the IV reset per frame; the rest stays clear."""
    out, at = bytearray(payload), 0
    while at + 7 <= len(payload) and payload[at] == 0xFF and payload[at + 1] & 0xF0 == 0xF0:
        header = 7 if payload[at + 1] & 0x01 else 9
        length = ((payload[at + 3] & 0x03) << 11) | (payload[at + 4] << 3) | (payload[at + 5] >> 5)
        if length < header or at + length > len(payload):
            break
        start = at + header + 16
        blocks = max(0, (at + length - start) // 16)
        if length - header > 31 and blocks:
            encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
            out[start:start + 16 * blocks] = encryptor.update(payload[start:start + 16 * blocks])
        at += length
    return bytes(out)


def _ts_packets_of(pid: int, counter: int, first_adaptation: bytes, data: bytes) -> tuple[list[bytes], int]:
    """A PES (``data``) as TS packets of ``pid``; the first carries the original first packet's adaptation field
    (PCR, random access); the last is padded with adaptation-field stuffing."""
    packets, at, first = [], 0, True
    while at < len(data) or first:
        adaptation = first_adaptation if first else b""
        room = TS_PACKET - 4 - len(adaptation)
        chunk = data[at:at + room]
        at += len(chunk)
        if len(chunk) < room:  # stuff: grow (or create) the adaptation field
            missing = room - len(chunk)
            if adaptation:
                adaptation = bytes([adaptation[0] + missing]) + adaptation[1:] + b"\xff" * missing
            elif missing == 1:
                adaptation = b"\x00"
            else:
                adaptation = bytes([missing - 1, 0]) + b"\xff" * (missing - 2)
        control = (0x30 if adaptation else 0x10) | counter
        header = bytes([0x47, (0x40 if first else 0) | (pid >> 8), pid & 0xFF, control])
        packets.append(header + adaptation + chunk)
        counter = (counter + 1) & 0x0F
        first = False
    return packets, counter


def _pmt_sample_aes(section_packet: bytes, audio_setup: bytes) -> bytes:
    """The PMT with SAMPLE-AES stream types and descriptors: private_data_indicator 'zavc' (video); 'aacd' plus a
    registration descriptor 'apad' with the audio setup information (audio)."""
    at = 4 + (1 + section_packet[4] if section_packet[3] & 0x20 else 0)
    pointer = section_packet[at]
    start = at + 1 + pointer
    length = ((section_packet[start + 1] & 0x0F) << 8) | section_packet[start + 2]
    section = section_packet[start:start + 3 + length]
    info_length = ((section[10] & 0x0F) << 8) | section[11]
    body, pos, end = bytearray(section[3:12 + info_length]), 12 + info_length, len(section) - 4
    while pos + 5 <= end:
        kind, es_info = section[pos], ((section[pos + 3] & 0x0F) << 8) | section[pos + 4]
        descriptors = section[pos + 5:pos + 5 + es_info]
        if kind in _SAMPLE_AES_TYPES:
            new_kind, tag = _SAMPLE_AES_TYPES[kind]
            descriptors += bytes([0x0F, 4]) + tag
            if kind == 0x0F:
                descriptors += bytes([0x05, 4 + len(audio_setup)]) + b"apad" + audio_setup
            kind = new_kind
        body += bytes([kind]) + section[pos + 1:pos + 3] + struct.pack(">H", 0xF000 | len(descriptors)) + descriptors
        pos += 5 + es_info
    head = bytes([section[0], 0xB0 | ((len(body) + 4) >> 8), (len(body) + 4) & 0xFF])
    new = head + bytes(body)
    new += struct.pack(">I", _crc32_mpeg(new))
    packet = section_packet[:at] + b"\x00" + new
    if len(packet) > TS_PACKET:
        raise ApiError("INTERNAL", "SAMPLE-AES: the PMT does not fit one TS packet")
    return packet + b"\xff" * (TS_PACKET - len(packet))


def sample_aes_ts(data: bytes, key: bytes, iv: bytes) -> bytes:
    """One MPEG-TS segment encrypted as SAMPLE-AES: H.264 and AAC PES payloads re-encrypted and re-packetised (the
    PES lengths and continuity counters rewritten), the PMT signalling it; other packets copied."""
    packets = [data[i:i + TS_PACKET] for i in range(0, len(data) - TS_PACKET + 1, TS_PACKET)]
    pid_of = [((p[1] & 0x1F) << 8) | p[2] for p in packets]
    pmt_pid, streams = None, {}
    for packet, pid in zip(packets, pid_of, strict=True):
        at = 4 + (1 + packet[4] if packet[3] & 0x20 else 0)
        if pid == 0 and packet[1] & 0x40:
            start = at + 1 + packet[at]
            pmt_pid = ((packet[start + 10] & 0x1F) << 8) | packet[start + 11]
        elif pid == pmt_pid and packet[1] & 0x40 and not streams:
            start = at + 1 + packet[at]
            length = ((packet[start + 1] & 0x0F) << 8) | packet[start + 2]
            pos = start + 12 + (((packet[start + 10] & 0x0F) << 8) | packet[start + 11])
            while pos + 5 <= start + 3 + length - 4:
                streams[((packet[pos + 1] & 0x1F) << 8) | packet[pos + 2]] = packet[pos]
                pos += 5 + (((packet[pos + 3] & 0x0F) << 8) | packet[pos + 4])
    encrypted = {pid for pid, kind in streams.items() if kind in _SAMPLE_AES_TYPES}
    # the PES of each encrypted PID: (index of its first packet, adaptation field of that packet, payload bytes)
    pes: dict[int, list[list]] = {pid: [] for pid in encrypted}
    for i, (packet, pid) in enumerate(zip(packets, pid_of, strict=True)):
        if pid not in encrypted:
            continue
        has_adaptation, has_payload = packet[3] & 0x20, packet[3] & 0x10
        at = 4 + (1 + packet[4] if has_adaptation else 0)
        if packet[1] & 0x40:
            pes[pid].append([i, packet[4:at] if has_adaptation else b"", bytearray()])
        if has_payload and pes[pid]:
            pes[pid][-1][2] += packet[at:]
    audio_setup = b"zaac" + struct.pack("<H", 0) + bytes([1, 0])
    starts: dict[int, tuple[int, bytes, bytes]] = {}
    for pid, items in pes.items():
        for first, adaptation, raw in items:
            raw = bytes(raw)
            header_end = 9 + raw[8]
            payload = raw[header_end:]
            if streams[pid] == 0x1B:
                payload = _sample_aes_video(payload, key, iv)
            else:
                if len(audio_setup) == 8 and len(payload) >= 7:
                    audio_setup = audio_setup[:7] + bytes([7]) + payload[:7]  # setup data: the first ADTS header
                payload = _sample_aes_audio(payload, key, iv)
            head = bytearray(raw[:header_end])
            size = len(head) - 6 + len(payload)
            head[4:6] = struct.pack(">H", size if raw[4:6] != b"\x00\x00" and size <= 0xFFFF else 0)
            starts[first] = (pid, adaptation, bytes(head) + payload)
    counters: dict[int, int] = {}
    out = bytearray()
    for i, (packet, pid) in enumerate(zip(packets, pid_of, strict=True)):
        if i in starts:
            pid, adaptation, data_ = starts[i]
            new, counters[pid] = _ts_packets_of(pid, counters.get(pid, packet[3] & 0x0F), adaptation, data_)
            out += b"".join(new)
        elif pid in encrypted:
            continue  # carried by the PES's first packet above
        elif pid == pmt_pid and packet[1] & 0x40:
            out += _pmt_sample_aes(packet, audio_setup)
        else:
            out += packet
    return bytes(out)


def _encrypt_hls_sample_aes(workdir: str, mux: PlannedMux, key: ContentKey) -> None:
    """Every TS segment (or byte range) as SAMPLE-AES; EXT-X-KEY METHOD=SAMPLE-AES (FairPlay) in the playlist."""
    playlist = os.path.join(workdir, mux.playlist)
    with open(playlist, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    sequence = next((int(ln.split(":", 1)[1]) for ln in lines if ln.startswith("#EXT-X-MEDIA-SEQUENCE:")), 0)
    out: list[str] = []
    key_line = (f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{key.uri}"' + (f",IV=0x{key.iv.hex()}" if key.iv else "")
                + ',KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"')
    pending, next_offset, number = None, 0, sequence
    rewritten: dict[str, bytearray] = {}
    sources: dict[str, bytes] = {}
    for line in lines:
        if line.startswith("#EXTINF:") and key_line:
            out.append(key_line)
            key_line = ""
        if line.startswith("#EXT-X-BYTERANGE:"):
            length, _, offset = line.split(":", 1)[1].partition("@")
            pending = (int(length), int(offset) if offset else next_offset)
            next_offset = sum(pending)
            continue
        if line and not line.startswith("#"):
            iv = key.iv or number.to_bytes(16, "big")
            path = os.path.join(workdir, line)
            if line not in sources:
                with open(path, "rb") as handle:
                    sources[line] = handle.read()
            if pending is None:
                with open(path, "wb") as handle:
                    handle.write(sample_aes_ts(sources[line], key.key, iv))
            else:
                rewritten.setdefault(line, bytearray())
                length, offset = pending
                encrypted = sample_aes_ts(sources[line][offset:offset + length], key.key, iv)
                out.append(f"#EXT-X-BYTERANGE:{len(encrypted)}@{len(rewritten[line])}")
                rewritten[line] += encrypted
                pending = None
            number += 1
        out.append(line)
    for name, data in rewritten.items():
        with open(os.path.join(workdir, name), "wb") as handle:
            handle.write(data)
    with open(playlist, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + "\n")


# ------------------------------------------------------------------------------------------------ entry point


def protect(workdir: str, planned: list[PlannedMux], config: dict,
            secrets: SecretDirectory | None = None) -> dict[str, Protection]:
    """Encrypt every mux stream that names an encryption; return what its manifests must signal, by mux key."""
    by_id = {e["id"]: e for e in config.get("encryptions") or []}
    wanted = {m["key"]: by_id[m["encryptionId"]] for m in config["muxStreams"] if m.get("encryptionId")}
    if not wanted:
        return {}
    secrets = secrets or SecretDirectory.from_environment()
    hls_muxes = {name for m in config.get("manifests") or [] if m["type"] == "HLS" for name in m["muxStreams"]}
    payloads: dict[str, bytes] = {}
    out: dict[str, Protection] = {}
    for mux in planned:
        encryption = wanted.get(mux.key)
        if encryption is None:
            continue
        version = encryption["secretManagerKeySource"]["secretVersion"]
        if version not in payloads:
            payloads[version] = secrets.access(version)
        mode = next(m for m in ("aes128", "sampleAes", "mpegCenc") if m in encryption)
        scheme = (encryption.get("mpegCenc") or {}).get("scheme", "")
        if (mode, scheme) == ("aes128", ""):
            key = content_key(payloads[version], version, mux.key, need_uri=True, need_key_id=False)
            _encrypt_hls_aes128(workdir, mux, key)
        elif (mode, scheme) == ("mpegCenc", "cenc"):
            key = content_key(payloads[version], version, mux.key, need_uri=False, need_key_id=True)
            _encrypt_fmp4_cenc(workdir, mux, key)
        elif (mode, scheme) == ("sampleAes", ""):
            key = content_key(payloads[version], version, mux.key, need_uri=True, need_key_id=False)
            _encrypt_hls_sample_aes(workdir, mux, key)
        elif (mode, scheme) == ("mpegCenc", "cbcs"):
            fairplay = mux.key in hls_muxes  # HLS fMP4 cbcs is FairPlay: EXT-X-KEY METHOD=SAMPLE-AES, the skd:// URI
            key = content_key(payloads[version], version, mux.key, need_uri=fairplay, need_key_id=True)
            _encrypt_fmp4_cbcs(workdir, mux, key, key.uri if fairplay else None)
        else:  # refused at validation (jobconfig/encryption.py)
            raise ApiError("UNIMPLEMENTED", f"encryption '{encryption['id']}' cannot be written locally")
        out[mux.key] = Protection(mode, scheme, key, tuple(encryption["drmSystems"]))
    return out
