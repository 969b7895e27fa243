"""Embedded captions (TextStream codec cea608 / cea708): cues -> CEA-608 byte pairs -> ATSC A/53 SEI in H.264.

The Transcoder API embeds ONE cea608/cea708 text stream into every output video. ffmpeg has no CEA-608 encoder, so:

1. :func:`frame_pairs` turns cues into pop-on captions for caption channel CC1 (field 1), one byte pair per video
   frame: RCL, ENM, a preamble per row, the text, then EOC at the cue's start frame and EDM at its end.
   Text uses the 608 basic character set (ASCII with the accented letters 608 puts in place of * \\ ^ _ ` { | } ~);
   other characters become '?'. At most 4 rows of 32 characters, bottom of the screen.
2. :func:`embed` rewrites the encoded video of a NUT file with PyAV: before the first slice of every access unit it
   inserts an SEI NAL unit (user_data_registered_itu_t_t35, "GA94" cc_data) carrying that frame's pair, keeping
   every timestamp; ffmpeg then copies the streams into the real mux streams. Decoders (ffmpeg's ``subcc``,
   Safari, hls.js) read the captions from there.

cea708 is written the same way (608 data in the cc_data of the A/53 SEI, as 708 streams carry it for legacy
decoders); DTVCC service blocks are not written.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from fractions import Fraction

import av

from .captions import Cue
from .nal import escape

_RCL, _ENM, _EOC, _EDM = (0x14, 0x20), (0x14, 0x2E), (0x14, 0x2F), (0x14, 0x2C)
_ROW_PAC = {12: (0x13, 0x40), 13: (0x13, 0x60), 14: (0x14, 0x40), 15: (0x14, 0x60)}
_SPECIAL = {"á": 0x2A, "é": 0x5C, "í": 0x5E, "ó": 0x5F, "ú": 0x60, "ç": 0x7B, "÷": 0x7C, "Ñ": 0x7D, "ñ": 0x7E}
_REPLACED = set("*\\^_`{|}~")  # their codes mean the letters above in 608
ROW_CHARS = 32
MAX_ROWS = 4


def _parity(byte: int) -> int:
    return byte | 0x80 if bin(byte & 0x7F).count("1") % 2 == 0 else byte & 0x7F


def _pair(a: int, b: int) -> tuple[int, int]:
    return _parity(a), _parity(b)


def _char(ch: str) -> int:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if " " <= ch <= "\x7f" and ch not in _REPLACED:
        return ord(ch)
    return ord("?")


def caption_rows(text: str) -> list[str]:
    rows: list[str] = []
    for line in text.splitlines() or [""]:
        rows += textwrap.wrap(line, ROW_CHARS) or [""]
    return [r for r in rows if r.strip()][-MAX_ROWS:]


def _load(text: str) -> list[tuple[int, int]]:
    """Byte pairs that load ``text`` into non-displayed memory (pop-on), ready for EOC."""
    pairs = [_pair(*_RCL), _pair(*_RCL), _pair(*_ENM), _pair(*_ENM)]
    rows = caption_rows(text)
    for i, row in enumerate(rows):
        pac = _ROW_PAC[16 - len(rows) + i]
        pairs += [_pair(*pac), _pair(*pac)]
        codes = [_char(c) for c in row]
        if len(codes) % 2:
            codes.append(0)
        pairs += [_pair(codes[j], codes[j + 1]) for j in range(0, len(codes), 2)]
    return pairs


def frame_pairs(cues: Iterable[Cue], fps: Fraction, frames: int) -> dict[int, tuple[int, int]]:
    """Frame index -> the 608 byte pair sent with it (frames without one carry padding).

    EOC (show) lands on the cue's start frame and EDM (clear) on its end frame unless the next caption replaces it
    right away; the loading pairs take the free frames just before the EOC (while the previous caption is still on
    screen, as pop-on allows). When there are too few, the caption shows a little later."""
    out: dict[int, tuple[int, int]] = {}
    cues = sorted(cues, key=lambda c: c.start)
    previous_eoc = -2
    for i, cue in enumerate(cues):
        start = round(cue.start * fps)
        if start >= frames:
            break
        load = _load(cue.text)
        eoc = max(start, previous_eoc + 2)
        while True:
            free = [f for f in range(previous_eoc + 2, eoc) if f not in out]
            if len(free) >= len(load) and eoc not in out and eoc + 1 not in out:
                break
            eoc += 1
        for frame, pair in zip(free[-len(load):], load, strict=True):
            out[frame] = pair
        out[eoc], out[eoc + 1] = _pair(*_EOC), _pair(*_EOC)
        previous_eoc = eoc
        end = max(eoc + 2, round(cue.end * fps))
        following = round(cues[i + 1].start * fps) if i + 1 < len(cues) else None
        if following is None or following > end + 1:
            at = end
            while at in out or at + 1 in out:
                at += 1
            out[at], out[at + 1] = _pair(*_EDM), _pair(*_EDM)
    return out


def sei_nal(pair: tuple[int, int] | None) -> bytes:
    """An Annex B SEI NAL unit with one A/53 cc_data construct (CC1 pair, or 608 padding)."""
    b1, b2 = pair or (0x80, 0x80)
    cc_data = bytes([0x40 | 1, 0xFF, 0xFC, b1, b2])  # process_cc_data, cc_count=1, em_data; field 1, valid
    payload = bytes([0xB5, 0x00, 0x31]) + b"GA94" + bytes([0x03]) + cc_data + bytes([0xFF])
    rbsp = bytes([0x04, len(payload)]) + payload + bytes([0x80])  # payload type 4 (ITU-T T.35), trailing bits
    return b"\x00\x00\x00\x01\x06" + escape(rbsp)


def _with_sei(data: bytes, sei: bytes) -> bytes:
    """Insert ``sei`` before the first slice NAL unit (types 1 and 5) of an Annex B access unit."""
    at = 0
    while True:
        at = data.find(b"\x00\x00\x01", at)
        if at < 0 or at + 3 >= len(data):
            return sei + data
        if data[at + 3] & 0x1F in (1, 5):
            start = at - 1 if at > 0 and data[at - 1] == 0 else at
            return data[:start] + sei + data[start:]
        at += 3


def embed(src: str, dst: str, pairs_by_stream: dict[int, tuple[Fraction, dict[int, tuple[int, int]]]]) -> None:
    """Copy ``src`` (NUT) to ``dst`` (NUT), adding the caption SEI to the H.264 streams named in
    ``pairs_by_stream`` (stream index -> (frame rate, frame index -> pair)). Other streams pass unchanged."""
    with av.open(src) as source, av.open(dst, "w", format="nut") as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is None and packet.size == 0:
                continue  # the demuxer's end-of-stream flush packet
            index = packet.stream.index
            if index in pairs_by_stream and packet.pts is not None:
                fps, pairs = pairs_by_stream[index]
                frame = round(packet.pts * packet.time_base * fps)
                new = av.Packet(_with_sei(bytes(packet), sei_nal(pairs.get(frame))))
                new.pts, new.dts, new.time_base = packet.pts, packet.dts, packet.time_base
                new.duration = packet.duration
                new.is_keyframe = packet.is_keyframe
                packet = new
            packet.stream = streams[index]
            target.mux(packet)
