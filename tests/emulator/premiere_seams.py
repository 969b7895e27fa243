"""Seam measurements of a stitched premiere, as a player sees it: shared by tests/emulator/test_premiere_parts.py
and bench/bench_premiere.py.

    make_marked_source(path, seconds, size=, rate=)  a source whose audio carries its own clock: left channel a
                                                      continuous 440 Hz sine (seams must not click), right channel
                                                      a 10 ms 1 kHz burst at every whole second + 0.5 s (A/V sync)
    hls_seams(media_playlist, audio_playlist, fetch) -> HlsSeams
    dash_video_times(mpd_text, fetch)                -> [global frame times] from one Period per part

Player model (HLS): each discontinuity section (a part) starts where the playlist's EXTINFs put it; its timestamps
are mapped so that its first video frame lands there (hls.js, Safari and ExoPlayer all re-base a discontinuity on
its first sample), and the section's audio is mapped by the same offset; a later section's samples replace an
earlier one's where they overlap (MSE's coded-frame removal). Frames and samples are read with ffprobe/ffmpeg.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

RATE = 48_000
AAC_FRAME = 1024
SINE_HZ = 440.0
Fetch = Callable[[str], bytes]


def make_marked_source(path: Path, seconds: float, *, size: str = "320x180", rate: int = 30,
                       preset: str = "ultrafast") -> Path:
    audio = (f"aevalsrc=exprs='0.5*sin(2*PI*{SINE_HZ:g}*t)|0.8*sin(2*PI*1000*t)*lt(mod(t-0.5\\,1)\\,0.01)'"
             f":s={RATE}:d={seconds}")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size={size}:rate={rate}:duration={seconds}", "-f", "lavfi", "-i", audio,
                    "-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p", "-g", str(rate),
                    "-c:a", "aac", "-b:a", "192k", "-shortest", "-movflags", "+faststart", str(path)],
                   check=True, timeout=600)
    return path


@dataclass
class Section:
    init: str | None
    segments: list[str] = field(default_factory=list)
    start: float = 0.0  # where the playlist's EXTINFs put it
    duration: float = 0.0


def sections(text: str, base: str) -> list[Section]:
    out = [Section(None)]
    at = 0.0
    pending = 0.0
    for raw in text.splitlines():
        line = raw.strip()
        if line == "#EXT-X-DISCONTINUITY":
            out.append(Section(None, start=at))
        elif line.startswith("#EXT-X-MAP:"):
            found = re.search(r'URI="([^"]+)"', line)
            assert found, line
            out[-1].init = urljoin(base, found.group(1))
        elif line.startswith("#EXTINF:"):
            pending = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            out[-1].segments.append(urljoin(base, line))
            out[-1].duration += pending
            at += pending
    return [s for s in out if s.segments]


def _joined(section: Section, fetch: Fetch, directory: Path, name: str) -> Path:
    path = directory / name
    with path.open("wb") as f:
        if section.init:
            f.write(fetch(section.init))
        for url in section.segments:
            f.write(fetch(url))
    return path


def packet_times(path: Path, stream: str) -> list[tuple[float, float]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", stream, "-show_entries",
                          "packet=pts_time,duration_time", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    return sorted((float(p["pts_time"]), float(p.get("duration_time") or 0)) for p in json.loads(out)["packets"])


def decode(path: Path) -> tuple[array, array]:
    """(left, right) samples of the file's audio, float32 at RATE."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2", "-ar", str(RATE), "-"],
                         check=True, capture_output=True, timeout=120).stdout
    both = array("f")
    both.frombytes(raw)
    return both[0::2], both[1::2]


@dataclass
class HlsSeams:
    boundaries: list[float]  # where each part after the first starts (s)
    frame_times: list[float]  # every video frame's global time
    frame_step: float
    video_seam_errors: list[float]  # per boundary: next part's first frame - (last frame + one frame), seconds
    audio_gap_samples: int  # longest run of samples no part covers
    av_offsets: list[float]  # per part: audio burst time - its video time (s), + = audio late
    seam_disturbance: list[int]  # per boundary: samples within 50 ms where the 440 Hz sine is off by > 10 %
    residual_far: float  # largest sine residual 60-500 ms from the seams, relative (the codec's own noise)


def hls_seams(video_text: str, video_base: str, audio_text: str, audio_base: str, fetch: Fetch) -> HlsSeams:
    video = sections(video_text, video_base)
    audio = sections(audio_text, audio_base)
    assert len(video) == len(audio), (len(video), len(audio))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        frames: list[float] = []
        step = 0.0
        mapping: list[float] = []  # per part: global = pts + offset
        firsts: list[float] = []
        lasts: list[float] = []
        for n, section in enumerate(video):
            packets = packet_times(_joined(section, fetch, directory, f"v{n}.mp4"), "v:0")
            offset = section.start - packets[0][0]
            mapping.append(offset)
            step = packets[1][0] - packets[0][0]
            times = [p + offset for p, _ in packets]
            firsts.append(times[0])
            lasts.append(times[-1])
            frames += times
        seams = [firsts[k + 1] - (lasts[k] + step) for k in range(len(video) - 1)]
        total = round((video[-1].start + video[-1].duration) * RATE)
        left = array("f", bytes(4 * total))
        covered = bytearray(total)
        av: list[float] = []
        splices: list[int] = []
        for n, section in enumerate(audio):
            path = _joined(section, fetch, directory, f"a{n}.mp4")
            first = packet_times(path, "a:0")[0][0]
            samples, marks = decode(path)
            at = round((first + mapping[n]) * RATE)
            if n:
                splices.append(at)
            lo, hi = max(0, at), min(total, at + len(samples))
            if hi > lo:
                left[lo:hi] = samples[lo - at:hi - at]
                covered[lo:hi] = b"\x01" * (hi - lo)
            for burst in _burst_times(marks):
                when = burst + first + mapping[n]
                av.append(when - (math.floor(when - 0.5 + 0.25) + 0.5))
        gaps = _longest_false(covered)
        boundaries = [s.start for s in video[1:]]
        disturbance, far = _sine_check(left, splices)
    return HlsSeams(boundaries, frames, step, seams, gaps, av, disturbance, far)


def _burst_times(channel: array) -> list[float]:
    """Onsets (s) of the right channel's bursts: the first loud sample after at least 5 ms of quiet."""
    onsets = []
    quiet = RATE
    for i, value in enumerate(channel):
        if abs(value) > 0.3:
            if quiet >= RATE // 200:
                onsets.append(i / RATE)
            quiet = 0
        else:
            quiet += 1
    return onsets


def _longest_false(mask: bytearray) -> int:
    best = 0
    for run in bytes(mask).split(b"\x01"):
        best = max(best, len(run))
    return best


def _fit(left: array, lo: int, hi: int) -> tuple[float, float]:
    """Least-squares (a, b) of a*sin + b*cos at SINE_HZ over samples [lo, hi)."""
    w = 2 * math.pi * SINE_HZ / RATE
    ss = sc = cc = ys = yc = 0.0
    for i in range(lo, hi):
        sn, cs, y = math.sin(w * i), math.cos(w * i), left[i]
        ss += sn * sn
        sc += sn * cs
        cc += cs * cs
        ys += y * sn
        yc += y * cs
    det = ss * cc - sc * sc
    return (ys * cc - yc * sc) / det, (yc * ss - ys * sc) / det


def _residual(left: array, i: int, fit: tuple[float, float]) -> float:
    w = 2 * math.pi * SINE_HZ / RATE
    return abs(left[i] - fit[0] * math.sin(w * i) - fit[1] * math.cos(w * i))


def _sine_check(left: array, splices: list[int]) -> tuple[list[int], float]:
    """Per splice (the sample where the next part's audio begins): the 440 Hz sine fitted on each side (0.06-0.5 s
    away), then the number of samples within 50 ms of the splice whose residual from their side's fit exceeds 10 %
    of the amplitude (a click, a dropout, a decoder restart). Also the largest residual (relative) 0.06-0.5 s away,
    the codec's own noise."""
    spans: list[int] = []
    far = 0.0
    near, away = int(0.05 * RATE), int(0.06 * RATE)
    reach = int(0.5 * RATE)
    for at in splices:
        before = _fit(left, at - reach, at - away)
        after = _fit(left, at + away, at + reach)
        amplitude = (math.hypot(*before) + math.hypot(*after)) / 2
        bad = sum(1 for i in range(at - near, at + near)
                  if _residual(left, i, before if i < at else after) > 0.1 * amplitude)
        spans.append(bad)
        far = max(far, max(_residual(left, i, before) for i in range(at - reach, at - away)) / amplitude,
                  max(_residual(left, i, after) for i in range(at + away, at + reach)) / amplitude)
    return spans, far


def dash_video_times(mpd_text: str, base: str, fetch: Fetch) -> list[tuple[float, float, list[float]]]:
    """Per Period of a multi-Period MPD: (start, duration, its video frames' global times = media time - PTO +
    Period start), the frames it shows only (those inside the Period)."""
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    root = ET.fromstring(mpd_text)
    out: list[tuple[float, float, list[float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, period in enumerate(root.findall("d:Period", ns)):
            start = _seconds(period.get("start", "PT0S"))
            length = _seconds(period.get("duration", "PT0S"))
            adaptation = next(a for a in period.findall("d:AdaptationSet", ns) if a.get("contentType") == "video")
            rep = adaptation.find("d:Representation", ns)
            assert rep is not None
            template = rep.find("d:SegmentTemplate", ns)
            if template is None:
                template = adaptation.find("d:SegmentTemplate", ns)
            assert template is not None
            scale = int(template.get("timescale", "1"))
            pto = int(template.get("presentationTimeOffset", "0"))
            number = int(template.get("startNumber", "1"))
            entries = []
            t = 0
            for s in template.findall("d:SegmentTimeline/d:S", ns):
                t = int(s.get("t", t))
                for _ in range(int(s.get("r", "0")) + 1):
                    entries.append(t)
                    t += int(s.get("d", "0"))
            init = urljoin(base, template.get("initialization", "").replace("$RepresentationID$", rep.get("id", "")))
            media = template.get("media", "").replace("$RepresentationID$", rep.get("id", ""))
            urls = []
            for i, _t in enumerate(entries):
                found = re.search(r"\$Number(%0(\d+)d)?\$", media)
                assert found
                width = int(found.group(2) or 1)
                urls.append(urljoin(base, media[:found.start()] + str(number + i).zfill(width) + media[found.end():]))
            path = _joined(Section(init, urls), fetch, Path(tmp), f"d{n}.mp4")
            packets = packet_times(path, "v:0")
            times = [p - pto / scale + start for p, _ in packets]
            out.append((start, length, [t for t in times if start - 1e-3 <= t < start + length - 1e-3]))
    return out


def _seconds(iso: str) -> float:
    found = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", iso)
    assert found, iso
    h, m, s = found.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)
