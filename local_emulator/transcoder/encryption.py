"""Encryption of a job's outputs after packaging: the keys from a local stand-in for Secret Manager, AES-128 and
SAMPLE-AES HLS segments (ts_sample_aes.py), MPEG-CENC cenc and cbcs fMP4 (fmp4_encryption.py), and what the manifests
must say. ``protect`` is the entry point (called by manifests.write_manifests for the runner).

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
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import ApiError
from .ffmpeg_plan import PlannedMux
from .fmp4_encryption import encrypt_cbcs, encrypt_cenc
from .ts_sample_aes import sample_aes_ts

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


def _rewrite_hls_segments(workdir: str, mux: PlannedMux, key_line: str,
                          transform: Callable[[bytes, int], bytes]) -> None:
    """Replace every media segment of ``mux`` by ``transform(segment, media sequence number)``: a file in place, or,
    for a single-file mux stream, each byte range (the file rebuilt, the ranges renumbered); ``key_line`` goes before
    the first segment of the media playlist."""
    playlist = os.path.join(workdir, mux.playlist)
    with open(playlist, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    number = next((int(ln.split(":", 1)[1]) for ln in lines if ln.startswith("#EXT-X-MEDIA-SEQUENCE:")), 0)
    out: list[str] = []
    pending: tuple[int, int] | None = None
    next_offset = 0
    sources: dict[str, bytes] = {}
    rewritten: dict[str, bytearray] = {}  # single-file mux stream: the transformed ranges, in order
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
            path = os.path.join(workdir, line)
            if line not in sources:
                with open(path, "rb") as handle:
                    sources[line] = handle.read()
            if pending is None:
                with open(path, "wb") as handle:
                    handle.write(transform(sources[line], number))
            else:
                length, offset = pending
                done = transform(sources[line][offset:offset + length], number)
                target = rewritten.setdefault(line, bytearray())
                out.append(f"#EXT-X-BYTERANGE:{len(done)}@{len(target)}")
                target += done
                pending = None
            number += 1
        out.append(line)
    for name, data in rewritten.items():
        with open(os.path.join(workdir, name), "wb") as handle:
            handle.write(data)
    with open(playlist, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + "\n")


def _segment_iv(key: ContentKey, number: int) -> bytes:
    """The secret's IV, else the media sequence number as a 128-bit big-endian integer (RFC 8216 5.2)."""
    return key.iv or number.to_bytes(16, "big")


def _encrypt_hls_aes128(workdir: str, mux: PlannedMux, key: ContentKey) -> None:
    key_line = f'#EXT-X-KEY:METHOD=AES-128,URI="{key.uri}"' + (f",IV=0x{key.iv.hex()}" if key.iv else "")
    _rewrite_hls_segments(workdir, mux, key_line, lambda data, n: aes128_cbc(data, key.key, _segment_iv(key, n)))


def _encrypt_hls_sample_aes(workdir: str, mux: PlannedMux, key: ContentKey) -> None:
    key_line = (f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="{key.uri}"' + (f",IV=0x{key.iv.hex()}" if key.iv else "")
                + ',KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"')
    _rewrite_hls_segments(workdir, mux, key_line, lambda data, n: sample_aes_ts(data, key.key, _segment_iv(key, n)))


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
            encrypt_cenc(workdir, mux, key)
        elif (mode, scheme) == ("sampleAes", ""):
            key = content_key(payloads[version], version, mux.key, need_uri=True, need_key_id=False)
            _encrypt_hls_sample_aes(workdir, mux, key)
        elif (mode, scheme) == ("mpegCenc", "cbcs"):
            fairplay = mux.key in hls_muxes  # HLS fMP4 cbcs is FairPlay: EXT-X-KEY METHOD=SAMPLE-AES, the skd:// URI
            key = content_key(payloads[version], version, mux.key, need_uri=fairplay, need_key_id=True)
            encrypt_cbcs(workdir, mux, key, key.uri if fairplay else None)
        else:  # refused at validation (jobconfig/encryption.py)
            raise ApiError("UNIMPLEMENTED", f"encryption '{encryption['id']}' cannot be written locally")
        out[mux.key] = Protection(mode, scheme, key, tuple(encryption["drmSystems"]))
    return out
