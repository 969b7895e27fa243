"""Text streams: reading caption inputs into cues, and writing ``vtt`` mux streams (segmented WebVTT for HLS).

Inputs. Sideloaded files are parsed by pysubs2 (SubRip ``.srt``, WebVTT ``.vtt``); SCC (``.scc``) and captions
embedded in a video input (CEA-608 in the H.264/MPEG-2 user data of an MP4 / TS, ``textStream.mapping`` naming
that input) are decoded by ffmpeg (its scc demuxer / ``movie=...[out+subcc]``) to SubRip first. Cue times are on
the input's own timeline; the edit atom's trim is applied here.

Output of a ``vtt`` mux stream with key K (fileName default ``K.vtt``, stem = fileName without ``.vtt``):
  individualSegments true   ``<stem>0000000000.vtt``, ``<stem>0000000001.vtt``, ... one per segmentDuration
  individualSegments false  ``<fileName>``: one WebVTT file covering the whole output (one HLS segment)
  HLS media playlist        ``K.m3u8`` (kept only when an HLS manifest lists K, like every media playlist)
Each file starts ``WEBVTT`` + ``X-TIMESTAMP-MAP=MPEGTS:<pts>,LOCAL:00:00:00.000``, where <pts> is the earliest 90 kHz
presentation time at the start of the first video variant of the same HLS manifest and its audio rendition
(measured, not assumed: this ffmpeg's HLS TS and fMP4 both start at 0), which is the origin hls.js takes (initPTS),
so cue 0:00 lands on the source's time 0. A cue
spanning a segment boundary is repeated in each segment it overlaps, with its full times (players drop duplicates).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from dataclasses import dataclass

import pysubs2

from .errors import ApiError

CAPTION_EXTENSIONS = (".srt", ".vtt", ".webvtt", ".scc")


@dataclass(frozen=True)
class Cue:
    start: float  # seconds on the output timeline
    end: float
    text: str  # plain text, lines separated by "\n"


_SRT_START = re.compile(rb"^\s*\d+\s*\r?\n\s*\d+:\d\d:\d\d[,.]\d+\s*-->")


def is_caption_file(path: str) -> bool:
    """A sideloaded caption file: by extension, else by its first bytes (WebVTT or SubRip text)."""
    if os.path.splitext(path)[1].lower() in CAPTION_EXTENSIONS:
        return True
    with open(path, "rb") as handle:
        head = handle.read(256).removeprefix(b"\xef\xbb\xbf")
    return head.startswith(b"WEBVTT") or bool(_SRT_START.match(head))


def _from_subrip_text(text: str, what: str) -> list[Cue]:
    try:
        subs = pysubs2.SSAFile.from_string(text)
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as exc:
        raise ApiError("INVALID_ARGUMENT", f"{what} could not be parsed as captions: {exc}") from None
    cues = []
    for event in subs:
        if event.is_comment:
            continue
        body = event.plaintext.strip()
        if body and event.end > event.start:
            cues.append(Cue(event.start / 1000.0, event.end / 1000.0, body))
    return cues


def read_caption_file(path: str, what: str) -> list[Cue]:
    """Cues of a sideloaded caption file (``what`` names it in errors, e.g. the input URI)."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".scc":
        return _ffmpeg_to_cues(["-i", path], what)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError("INVALID_ARGUMENT", f"{what} is not UTF-8 text") from None
    cues = _from_subrip_text(text, what)
    if not cues and text.strip():
        raise ApiError("INVALID_ARGUMENT", f"{what} has no caption cue that SubRip or WebVTT parsing recognises")
    return cues


def read_embedded_captions(path: str, what: str) -> list[Cue]:
    """CEA-608 captions carried in the video of a media input (ffmpeg's closed-caption decoder)."""
    movie = path.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")
    return _ffmpeg_to_cues(["-f", "lavfi", "-i", f"movie='{movie}'[out+subcc]", "-map", "0:s"], what)


def _ffmpeg_to_cues(args: list[str], what: str) -> list[Cue]:
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", *args, "-c:s", "srt", "-f", "srt", "pipe:1"]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        raise ApiError("DEADLINE_EXCEEDED", f"reading captions from {what} timed out") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["ffmpeg failed"]
        raise ApiError("INVALID_ARGUMENT", f"captions could not be read from {what}: {reason[0]}")
    return _from_subrip_text(done.stdout.decode("utf-8", "replace"), what)


def trim(cues: list[Cue], start: float, end: float) -> list[Cue]:
    """Cues of the atom [start, end) of the input timeline, moved to the output timeline (0 = atom start)."""
    out = []
    for cue in cues:
        s, e = max(cue.start, start), min(cue.end, end)
        if e > s:
            out.append(Cue(round(s - start, 3), round(e - start, 3), cue.text))
    return sorted(out, key=lambda c: (c.start, c.end))


# ------------------------------------------------------------------------------------------------ WebVTT out


def _stamp(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _escape(text: str) -> str:
    return "\n".join(line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")
                     for line in text.splitlines() if line.strip())


def webvtt(cues: list[Cue], mpegts: int) -> str:
    lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000", ""]
    for cue in cues:
        lines += [f"{_stamp(cue.start)} --> {_stamp(cue.end)}", _escape(cue.text), ""]
    return "\n".join(lines) + "\n"  # ends with a blank line: segments read back to back stay separate


@dataclass(frozen=True)
class VttOutput:
    playlist: str
    files: list[str]


def write_vtt_mux(workdir: str, key: str, file_name: str, cues: list[Cue], duration: float, segment: float,
                  individual: bool, mpegts: int) -> VttOutput:
    """Write the WebVTT file(s) and the HLS media playlist ``<key>.m3u8`` of one vtt mux stream."""
    stem = file_name[:-4] if file_name.endswith(".vtt") else file_name.rsplit(".", 1)[0]
    if individual:
        count = max(1, math.ceil(duration / segment - 1e-6))
        spans = [(i * segment, min(duration, (i + 1) * segment)) for i in range(count)]
        names = [f"{stem}{i:010d}.vtt" for i in range(count)]
    else:
        spans, names = [(0.0, duration)], [file_name]
    for (start, end), name in zip(spans, names, strict=True):
        inside = [c for c in cues if c.start < end and c.end > start] if individual else cues
        with open(os.path.join(workdir, name), "w", encoding="utf-8") as handle:
            handle.write(webvtt(inside, mpegts))
    target = math.ceil(max(end - start for start, end in spans) - 1e-6)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{max(1, target)}", "#EXT-X-MEDIA-SEQUENCE:0",
             "#EXT-X-PLAYLIST-TYPE:VOD"]
    for (start, end), name in zip(spans, names, strict=True):
        lines += [f"#EXTINF:{end - start:.6f},", name]
    lines.append("#EXT-X-ENDLIST")
    playlist = key + ".m3u8"
    with open(os.path.join(workdir, playlist), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return VttOutput(playlist, names)


def first_pts(workdir: str, playlists: list[str]) -> int:
    """The earliest 90 kHz PTS at the start of these HLS media playlists (every stream of each: the origin that
    hls.js takes as its initPTS, and where the source's time 0 lands); 0 when unknown."""
    values = []
    for playlist in playlists:
        cmd = ["ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-read_intervals", "%+#16", "-of",
               "csv=p=0", os.path.join(os.path.abspath(workdir), playlist)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            continue
        for line in done.stdout.split():
            try:
                values.append(float(line.strip(",")))
            except ValueError:
                continue
    return max(0, round(min(values) * 90000)) if values else 0
