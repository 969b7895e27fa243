"""SAMPLE-AES inside MPEG-TS (Apple's MPEG-2 Stream Encryption Format for HTTP Live Streaming) for the local
Transcoder's encryption step (see encryption.py): H.264 slice NAL units and AAC ADTS, AC-3 and E-AC-3 sync frames
encrypted inside their PES payloads, the PES packets re-packetised, the PMT signalling SAMPLE-AES (stream types 0xdb,
0xcf, 0xc1, 0xc2; private data indicators and the audio setup information). FFmpeg reads this format; none writes
it.
"""

from __future__ import annotations

import re
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .errors import ApiError
from .nal import escape

TS_PACKET = 188
# stream type -> (SAMPLE-AES stream type, private data indicator, audio_type of the audio setup information):
# H.264, AAC (ADTS), AC-3 (ATSC stream type 0x81, as FFmpeg writes it), E-AC-3 (0x87)
_SAMPLE_AES_TYPES = {0x1B: (0xDB, b"zavc", b""), 0x0F: (0xCF, b"aacd", b"zaac"), 0x81: (0xC1, b"ac3d", b"zac3"),
                     0x87: (0xC2, b"ec3d", b"zec3")}
_DOLBY = (0x81, 0x87)


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


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
    return escape(bytes(out))


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


def sample_aes_audio(payload: bytes, key: bytes, iv: bytes) -> bytes:
    """AAC in ADTS: each frame keeps its header and 16 more bytes clear; the whole 16-byte blocks after them are
    AES-128-CBC encrypted, the IV reset per frame; the rest stays clear."""
    out, at = bytearray(payload), 0
    while at + 7 <= len(payload) and payload[at] == 0xFF and payload[at + 1] & 0xF0 == 0xF0:
        header = 7 if payload[at + 1] & 0x01 else 9
        length = ((payload[at + 3] & 0x03) << 11) | (payload[at + 4] << 3) | (payload[at + 5] >> 5)
        if length < header or at + length > len(payload):
            break
        _encrypt_frame(out, at + header, at + length, key, iv)
        at += length
    return bytes(out)


def _encrypt_frame(out: bytearray, data: int, end: int, key: bytes, iv: bytes) -> None:
    """One audio frame whose data (after any header) is ``out[data:end]``: more than 31 bytes of it, and its 16-byte
    leader stays clear, the whole 16-byte blocks after it are AES-128-CBC encrypted (IV reset per frame), a trailing
    partial block stays clear; 31 bytes or fewer stay clear (AAC, AC-3 and E-AC-3 alike)."""
    blocks = (end - data - 16) // 16
    if end - data > 31 and blocks:
        start = data + 16
        out[start:start + 16 * blocks] = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor().update(
            bytes(out[start:start + 16 * blocks]))


_AC3_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 576, 640)
_AC3_RATES = (48000, 44100, 32000)


def dolby_frame_size(frame: bytes) -> int:
    """Bytes of the AC-3 (bsid <= 10) or E-AC-3 (bsid 11-16) sync frame at the start of ``frame``; 0 if none."""
    if len(frame) < 6 or frame[0] != 0x0B or frame[1] != 0x77:
        return 0
    if frame[5] >> 3 > 10:  # E-AC-3: frmsiz, in 16-bit words minus one
        return ((((frame[2] & 0x07) << 8) | frame[3]) + 1) * 2
    fscod, code = frame[4] >> 6, frame[4] & 0x3F
    if fscod == 3 or code >= 2 * len(_AC3_KBPS):
        return 0
    rate, kbps = _AC3_RATES[fscod], _AC3_KBPS[code >> 1]
    words = 1536 * kbps * 1000 // rate // 16 + (code & 1 if rate == 44100 else 0)
    return words * 2


def sample_aes_dolby(payload: bytes, key: bytes, iv: bytes) -> bytes:
    """AC-3 / E-AC-3: each sync frame keeps a 16-byte leader clear; the whole 16-byte blocks after it are
    AES-128-CBC encrypted, the IV reset per frame; a trailing partial block stays clear."""
    out, at = bytearray(payload), 0
    while at < len(payload):
        length = dolby_frame_size(payload[at:at + 6])
        if not length or at + length > len(payload):
            break
        _encrypt_frame(out, at, at + length, key, iv)
        at += length
    return bytes(out)


def _dolby_setup(frame: bytes) -> bytes:
    """setup_data of the audio setup information: AC-3, the first 10 bytes of the sync frame; E-AC-3, an
    EC3SpecificBox ('dec3' payload, ETSI TS 102 366 F.6) of its one independent substream."""
    if frame[5] >> 3 <= 10:
        return frame[:10]
    fscod, numblkscod = frame[4] >> 6, (frame[4] >> 4) & 0x03
    acmod, lfeon, bsid = (frame[4] >> 1) & 0x07, frame[4] & 0x01, frame[5] >> 3
    rate = (24000, 22050, 16000)[numblkscod] if fscod == 3 else _AC3_RATES[fscod]
    samples = 1536 if fscod == 3 else (256, 512, 768, 1536)[numblkscod]
    kbps = dolby_frame_size(frame) * 8 * rate // samples // 1000
    bits = (kbps << 27) | (0 << 24) | ((fscod & 0x03) << 22) | (bsid << 17) | (acmod << 9) | (lfeon << 8)
    return bits.to_bytes(5, "big")


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
    """The PMT with SAMPLE-AES stream types and descriptors: private_data_indicator 'zavc' (video); 'aacd', 'ac3d' or
    'ec3d' plus a registration descriptor 'apad' with the audio setup information (audio)."""
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
            new_kind, tag, audio_type = _SAMPLE_AES_TYPES[kind]
            descriptors += bytes([0x0F, 4]) + tag
            if audio_type:
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
    audio_type = next((_SAMPLE_AES_TYPES[kind][2] for kind in streams.values() if kind in (0x0F, *_DOLBY)), b"zaac")
    audio_setup = audio_type + struct.pack("<H", 0) + bytes([1, 0])  # priming 0, version 1, no setup data yet
    starts: dict[int, tuple[int, bytes, bytes]] = {}
    for pid, items in pes.items():
        for first, adaptation, raw in items:
            raw = bytes(raw)
            header_end = 9 + raw[8]
            payload = raw[header_end:]
            if streams[pid] == 0x1B:
                payload = _sample_aes_video(payload, key, iv)
            elif streams[pid] in _DOLBY:
                if len(audio_setup) == 8 and dolby_frame_size(payload[:6]):
                    setup = _dolby_setup(payload[:16])
                    audio_setup = audio_setup[:7] + bytes([len(setup)]) + setup
                payload = sample_aes_dolby(payload, key, iv)
            else:
                if len(audio_setup) == 8 and len(payload) >= 7:
                    audio_setup = audio_setup[:7] + bytes([7]) + payload[:7]  # setup data: the first ADTS header
                payload = sample_aes_audio(payload, key, iv)
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
