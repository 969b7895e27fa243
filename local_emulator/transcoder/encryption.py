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
  fragment); the MPD gets ``ContentProtection`` for mp4protection (``cenc:default_KID``) and a ``cenc:pssh`` for each
  of Widevine and PlayReady that the encryption enables. Licences are a licence server's job: none is written.
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
                        base64.b64encode(widevine_pssh(self.key.key_id)).decode()))
        if "playready" in self.drm_systems:
            out.append(("ContentProtection", {"schemeIdUri": f"urn:uuid:{PLAYREADY}", "value": "MSPR 2.0"},
                        base64.b64encode(playready_pssh(self.key.key_id)).decode()))
        return out


def pssh_box(system: uuid.UUID, data: bytes) -> bytes:
    """A version 0 'pssh' box (ISO/IEC 23001-7 section 8.1)."""
    body = struct.pack(">I", 0) + system.bytes + struct.pack(">I", len(data)) + data
    return struct.pack(">I", 8 + len(body)) + b"pssh" + body


def widevine_pssh(key_id: bytes) -> bytes:
    """WidevinePsshData with its key_ids field (2) holding the one key id."""
    return pssh_box(WIDEVINE, b"\x12\x10" + key_id)


def playready_pssh(key_id: bytes) -> bytes:
    """A PlayReady Object holding one WRM header 4.0 (the KID as a little-endian GUID in base64, AESCTR); no LA_URL:
    the licence server's URL is the player's configuration."""
    kid = base64.b64encode(uuid.UUID(bytes=key_id).bytes_le).decode()
    header = ('<WRMHEADER xmlns="http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader" version="4.0.0.0">'
              f"<DATA><PROTECTINFO><KEYLEN>16</KEYLEN><ALGID>AESCTR</ALGID></PROTECTINFO><KID>{kid}</KID></DATA>"
              "</WRMHEADER>").encode("utf-16-le")
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


# ------------------------------------------------------------------------------------------------ entry point


def protect(workdir: str, planned: list[PlannedMux], config: dict,
            secrets: SecretDirectory | None = None) -> dict[str, Protection]:
    """Encrypt every mux stream that names an encryption; return what its manifests must signal, by mux key."""
    by_id = {e["id"]: e for e in config.get("encryptions") or []}
    wanted = {m["key"]: by_id[m["encryptionId"]] for m in config["muxStreams"] if m.get("encryptionId")}
    if not wanted:
        return {}
    secrets = secrets or SecretDirectory.from_environment()
    payloads: dict[str, bytes] = {}
    out: dict[str, Protection] = {}
    for mux in planned:
        encryption = wanted.get(mux.key)
        if encryption is None:
            continue
        version = encryption["secretManagerKeySource"]["secretVersion"]
        if version not in payloads:
            payloads[version] = secrets.access(version)
        mode = "aes128" if "aes128" in encryption else "mpegCenc" if "mpegCenc" in encryption else ""
        scheme = (encryption.get("mpegCenc") or {}).get("scheme", "")
        if (mode, scheme) == ("aes128", ""):
            key = content_key(payloads[version], version, mux.key, need_uri=True, need_key_id=False)
            _encrypt_hls_aes128(workdir, mux, key)
        elif (mode, scheme) == ("mpegCenc", "cenc"):
            key = content_key(payloads[version], version, mux.key, need_uri=False, need_key_id=True)
            _encrypt_fmp4_cenc(workdir, mux, key)
        else:  # refused at validation (jobconfig/encryption.py)
            raise ApiError("UNIMPLEMENTED", f"encryption '{encryption['id']}' cannot be written locally")
        out[mux.key] = Protection(mode, scheme, key, tuple(encryption["drmSystems"]))
    return out
