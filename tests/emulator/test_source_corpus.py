"""Every source the Transcoder API takes, as broadcasters and fans deliver it (issue 12), from the upload API to a
stream a player reads, through the whole local cloud: upload/start -> chunks -> complete (container sniff) ->
storage trigger -> probe (MediaInfo) -> job config (ladder) -> local Transcoder (ffmpeg) -> ready -> the API's HLS
URL, read by ffmpeg/ffprobe as a player would (bearer token for the master, the signed cookie for segments).

For each corpus sample (tests/media_corpus.py) it checks what a viewer would see and hear:
    rate      the top rendition's frames are evenly spaced (constant frame rate, also from a VFR source)
    size      the top rendition is the source's display size (after its pixel aspect and rotation) capped at
              1080p, every rendition has the display aspect and none is larger: no upscale, no squash
    picture   H.264 8-bit 4:2:0, square pixels; ffmpeg's ``idet`` (multi-frame) on the top rendition finds no
              more interlaced frames than in the source, and none at all where the source's fields carry motion
              (idet finds them there, so the check cannot pass by luck)
    sound     AAC stereo with energy in both channels (``astats`` RMS per channel); 5.1 downmixed by BS.775 (each
              source channel's tone measured on each side: front 0 dB, centre and surround -3 dB, the other side's
              channels and LFE absent); dual-mono carries the first programme on both channels (L-R is silent)
    sync      the first and last instant of sound (decoded; silence under -30 dB at either end is not sound) against the
              first and last picture (packet timestamps): the offsets at start and end equal the source's within
              one output frame. The corpus tones sound from the first sample to the last; the pictures have no
              flash marks, so a picture shifted against its own timestamps would go unseen.
Refused files answer their error where the information first exists: the extension at upload/start (with the
accepted list), the first bytes at upload/complete (a PNG or an FLV renamed .mp4), the probe for the rest (the video
ends ``failed`` with the reason).

One source is made here rather than taken from the corpus: MPEG-2 1080i whose fields carry motion 1/59.94 s apart
(``field_motion_1080i_ts``): a 1080i file made from progressive frames has no combing to remove, so only such a
source shows that the job deinterlaces.

The Transcoder API refuses inputs under 5 s, and so does our job builder: each 1-2 s corpus sample is repeated
(``-stream_loop``, stream copy, same codecs and container) to ~6 s. Heavy for a 2-core CI (~25 transcodes of 6 s,
1080i among them): the module is marked ``timeout(1800)``; run it alone:
    .venv/bin/python -m pytest tests/emulator/test_source_corpus.py -q
"""

from __future__ import annotations

import itertools
import json
import math
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kstream.client.api import UploadApi
from kstream.client.uploader import Uploader, UploadFailed

from contracts.upload import VIDEO_EXTENSIONS
from local_emulator.stack import StackConfig
from tests.emulator import transcode_support as ts
from tests.helpers import api_as, assert_envelope, token_for
from tests.media_corpus import SAMPLES, Expected, Sample, corpus_dir

pytestmark = pytest.mark.timeout(1800)

MIN_SECONDS = 5.5  # the Transcoder API's 5 s minimum, with room
TOP_BOX = (1920, 1080)  # the ladder's largest rung


@dataclass(frozen=True)
class Case:
    sample: str  # name in tests.media_corpus.SAMPLES, or in FIELD_MOTION below
    interlaced_source: bool = False  # fields carry motion: idet sees combing in the source and must see none after


def field_motion_1080i_ts(directory: Path) -> Path:
    """MPEG-2 1080i29.97 TFF + AC-3 5.1 in MPEG-TS whose two fields are 1/59.94 s apart (``interlace`` of a 59.94p
    source), as a live broadcast camera records: combing on every moving edge unless the job deinterlaces."""
    target = Path(directory) / "field-motion-1080i.ts"
    if not target.exists():
        tmp = target.with_name(f".tmp-{uuid.uuid4().hex[:6]}-{target.name}")
        tones = "|".join(f"0.5*sin(2*PI*{f}*t)" for f in (330, 440, 550, 110, 660, 770))
        _run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
              "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=60000/1001:d=6,interlace=scan=tff:lowpass=0",
              "-f", "lavfi", "-i", f"aevalsrc={tones}:c=5.1:s=48000:d=6",
              "-c:v", "mpeg2video", "-b:v", "8M", "-maxrate", "8M", "-bufsize", "4M", "-g", "15",
              "-flags", "+ilme+ildct", "-top", "1", "-field_order", "tt", "-c:a", "ac3", "-b:a", "384k",
              "-shortest", "-f", "mpegts", str(tmp)])
        tmp.rename(target)
    return target


FIELD_MOTION = Sample("field_motion_1080i_ts", field_motion_1080i_ts, Expected(
    "mpegts", 1920, 1080, 1920, 1080, video_codec="mpeg2video", frame_rate=29.97, scan_type="interlaced",
    field_order="tff", duration=6.0, audio_codec="ac3", audio_channels=6, audio_tracks=1))


def sample_named(name: str) -> Sample:
    return FIELD_MOTION if name == FIELD_MOTION.name else SAMPLES[name]


CASES = [
    Case("field_motion_1080i_ts", interlaced_source=True),  # true 60-fields-a-second motion: proves deinterlacing
    # The corpus's interlaced samples are interlace-coded progressive frames (no field motion for idet to see):
    # they prove the containers, codecs, parity and aspect, the case above proves the deinterlacing.
    Case("mpeg2_1080i_ac3_ts"),  # broadcast recording: MPEG-2 1080i + AC-3 5.1
    Case("h264_1080i_m2ts"),  # Blu-ray / AVCHD
    Case("dv_ntsc_avi"),  # DV 480i 4:3 anamorphic + PCM
    Case("mpeg4_mp3_avi"),  # XviD fan copy
    Case("wmv2_wma2_wmv"),  # Windows Media
    Case("mpeg2_pcm_mxf"),  # studio delivery, OP1a
    Case("h264_hi10_flac_mkv"),  # fansub Hi10P
    Case("rotated_hevc_mp4"),  # portrait phone clip
    Case("hlg_hevc_mov"),  # an iPhone's HDR (HLG) clip
    Case("vfr_mp4"),  # variable frame rate phone clip
    Case("anamorphic_ts"),  # HDV 1440x1080 shown 16:9
    Case("dual_mono_ts"),  # bilingual broadcast audio
]


# --------------------------------------------------------------------------------------------------------------------
# sources


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus_dir(tmp_path_factory)


def _duration(path: Path) -> float:
    out = _run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)])
    return float(out.strip())


def long_enough(path: Path) -> Path:
    """``path`` repeated to at least MIN_SECONDS by stream copy (the same codecs, flags and container)."""
    target = path.with_name(f"long-{path.name}")
    if target.exists():
        return target
    loops = max(0, math.ceil(MIN_SECONDS / _duration(path)) - 1)
    muxer = {".m2ts": ["-f", "mpegts", "-mpegts_m2ts_mode", "1"], ".wmv": ["-f", "asf"]}.get(path.suffix, [])
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex[:6]}-{target.name}")
    _run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-stream_loop", str(loops), "-i",
          str(path), "-map", "0", "-c", "copy", *muxer, str(tmp)])
    tmp.rename(target)
    return target


def _run(argv: list[str], timeout: float = 300) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(argv[:6])} ...: {done.stderr[-2000:]}"
    return done.stdout + done.stderr


def _uploader(cfg: StackConfig, tmp_path: Path, who: str) -> Uploader:
    """A fresh uploader identity per test: the API allows 10 upload starts per user per hour."""
    token = token_for(cfg, "uploader", f"corpus-{who}-{uuid.uuid4().hex[:6]}@kstream.local")
    return Uploader(UploadApi(cfg.gateway_url, token), state_dir=tmp_path, show_progress=False,
                    chunk_size=1024 * 1024)


def _metadata(title: str) -> dict[str, Any]:
    return {"title": title, "series": f"Source corpus {uuid.uuid4().hex[:8]}", "episode": 1, "language": "ko"}


# --------------------------------------------------------------------------------------------------------------------
# measuring what a player gets


@dataclass(frozen=True)
class Probe:
    streams: list[dict[str, Any]]
    packets: list[tuple[int, float, float | None]]  # (stream index, pts, duration) in seconds

    def video(self) -> list[dict[str, Any]]:
        return [s for s in self.streams if s["codec_type"] == "video"]

    def audio(self) -> list[dict[str, Any]]:
        return [s for s in self.streams if s["codec_type"] == "audio"]

    def span(self, index: int) -> tuple[float, float]:
        """(first pts, last pts + its duration) of one stream; a packet without a duration lasts as long as the
        median gap between packets."""
        mine = sorted((pts, dur) for i, pts, dur in self.packets if i == index)
        assert len(mine) > 1, f"no packets in stream {index}"
        gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(mine) if b[0] > a[0])
        typical = gaps[len(gaps) // 2] if gaps else 0.0
        return mine[0][0], max(p + (d if d is not None else typical) for p, d in mine)


def _ffprobe(url: str, headers: list[str]) -> Probe:
    base = ["ffprobe", "-v", "error", "-rw_timeout", "30000000", *headers]
    streams = json.loads(_run([*base, "-show_entries", "stream=index,codec_type,codec_name,profile,width,height,"
                               "pix_fmt,channels,r_frame_rate,sample_aspect_ratio,color_transfer,color_primaries",
                               "-of", "json", url]))["streams"]
    packets = []
    for line in _run([*base, "-show_entries", "packet=stream_index,pts_time,duration_time", "-of", "csv=p=0",
                      url]).splitlines():
        fields = line.strip().split(",")[:3]  # (side data may add empty fields after these)
        if len(fields) == 3 and fields[0] and fields[1] not in ("", "N/A"):
            duration = float(fields[2]) if fields[2] not in ("", "N/A") else None  # ASF leaves it out
            packets.append((int(fields[0]), float(fields[1]), duration))
    return Probe(streams, packets)


def _auth(cfg: StackConfig, role: str = "user") -> list[str]:
    return ["-headers", f"Authorization: Bearer {token_for(cfg, role)}\r\n"]


_IDET = re.compile(r"Multi frame detection: TFF:\s*(\d+)\s+BFF:\s*(\d+)\s+Progressive:\s*(\d+)\s+Undetermined:\s*(\d+)")
_RMS = re.compile(r"Channel: (\d+)\n(?:.*\n)*?.*RMS level dB: (-?inf|-?[\d.]+)")


def _interlaced_frames(url: str, headers: list[str], stream: str) -> tuple[int, int]:
    """(interlaced, all classified) frames of ``stream`` by idet's multi-frame detection."""
    out = _run(["ffmpeg", "-hide_banner", "-nostats", *headers, "-i", url, "-map", stream, "-vf", "idet",
                "-f", "null", "-"])
    found = _IDET.findall(out)
    assert found, out[-1500:]
    tff, bff, progressive, undetermined = (int(x) for x in found[-1])
    return tff + bff, tff + bff + progressive + undetermined


def _rms_per_channel(url: str, headers: list[str], stream: str, extra: str = "") -> list[float]:
    """RMS level (dBFS) of each channel of ``stream`` (after the optional filter ``extra``)."""
    chain = (extra + "," if extra else "") + "astats=measure_overall=none"
    out = _run(["ffmpeg", "-hide_banner", "-nostats", *headers, "-i", url, "-map", stream, "-af", chain,
                "-f", "null", "-"])
    levels = {int(ch): float(level) for ch, level in _RMS.findall(out)}
    assert levels, out[-1500:]
    return [levels[ch] for ch in sorted(levels)]


_FRAME = re.compile(r"pts_time:(-?[\d.]+) .*? rate:(\d+) nb_samples:(\d+)")
_SILENCE = re.compile(r"silence_(start|end): (-?[\d.]+)")


def _audible(url: str, headers: list[str], stream: str) -> tuple[float, float]:
    """(first, last) instant of sound in ``stream``, decoded as a player does (encoder priming the container marks
    is skipped; priming it does not mark, and padding, count as silence): the corpus tones run from the first
    sample to the last at -9 to -21 dBFS, so anything under -30 dB for 5 ms at either end (priming, codec
    pre-echo, padding) is time the sound was moved by."""
    out = _run(["ffmpeg", "-hide_banner", "-nostats", "-copyts", *headers, "-i", url, "-map", stream, "-af",
                "silencedetect=n=-30dB:d=0.005,ashowinfo", "-f", "null", "-"])  # -copyts: ffprobe's timeline
    frames = [(float(t), int(n) / int(r)) for t, r, n in _FRAME.findall(out)]
    assert frames, out[-1500:]
    first, last = frames[0][0], frames[-1][0] + frames[-1][1]
    events = [(kind, float(at)) for kind, at in _SILENCE.findall(out)]
    if len(events) >= 2 and events[0] == ("start", events[0][1]) and events[0][1] <= first + 0.002:
        first = events[1][1]  # leading silence
    if events and events[-1][0] == "start":
        last = events[-1][1]  # silence to the end
    elif len(events) >= 2 and events[-1][0] == "end" and events[-1][1] >= last - 0.002:
        last = events[-2][1]
    return first, last


# The 5.1 sources play one tone per channel (tests/media_corpus.py, and field_motion_1080i_ts above).
TONES_51 = {"FL": 330, "FR": 440, "FC": 550, "LFE": 110, "SL": 660, "SR": 770}


def _band_level(url: str, headers: list[str], stream: str, channel: int, hertz: int) -> float:
    """RMS (dBFS) of one output channel in a narrow band around ``hertz``."""
    (level,) = _rms_per_channel(url, headers, stream, f"pan=mono|c0=c{channel},bandpass=f={hertz}:width_type=h:w=15")
    return level


def _assert_downmix(url: str, headers: list[str], stream: str) -> None:
    levels = {(side, name): _band_level(url, headers, stream, side, hz) for side in (0, 1)
              for name, hz in TONES_51.items()}
    for side, (front, surround, other_front, other_surround) in enumerate((("FL", "SL", "FR", "SR"),
                                                                          ("FR", "SR", "FL", "SL"))):
        got = {name: levels[(side, name)] for name in TONES_51}
        assert got[front] > -20, got
        assert got["FC"] - got[front] == pytest.approx(-3.0, abs=1.0), got  # centre at -3 dB
        assert got[surround] - got[front] == pytest.approx(-3.0, abs=1.0), got  # its surround at -3 dB
        for absent in (other_front, other_surround, "LFE"):
            assert got[absent] < got[front] - 15, (absent, got)  # not on this side / dropped


def expected_top(width: int, height: int) -> tuple[int, int]:
    """The display size fit (not upscaled) into the 1080p box of the source's orientation, both sides even."""
    long_box, short_box = TOP_BOX
    scale = min(1.0, long_box / max(width, height), short_box / min(width, height))
    return round(width * scale / 2) * 2, round(height * scale / 2) * 2


# --------------------------------------------------------------------------------------------------------------------
# accepted sources


@pytest.mark.parametrize("case", CASES, ids=[c.sample for c in CASES])
def test_a_source_as_delivered_plays_right(local_cloud: StackConfig, corpus: Path, tmp_path: Path,
                                           case: Case) -> None:
    sample = sample_named(case.sample)
    expected = sample.expected
    source = long_enough(sample.make(corpus))

    result = _uploader(local_cloud, tmp_path, case.sample).upload(source, _metadata(f"{case.sample} 원본"))
    assert result.transcoding_job_id
    status = ts.wait_final(local_cloud, result.transcoding_job_id, timeout=600)
    assert status["status"] == "completed", status
    assert ts.video_as_admin(local_cloud, result.video_id)["status"] == "ready"

    url = f"{local_cloud.gateway_url}/api/stream/{result.video_id}"
    out = _ffprobe(url, _auth(local_cloud))
    local = _ffprobe(str(source), [])

    # size: display size, right aspect, no upscale
    videos = out.video()
    assert videos and all(v["codec_name"] == "h264" and v["pix_fmt"] == "yuv420p" for v in videos), videos
    sizes = {(v["width"], v["height"]) for v in videos}
    top = max(videos, key=lambda v: v["width"] * v["height"])
    assert (top["width"], top["height"]) == expected_top(expected.width, expected.height), sizes
    for w, h in sizes:
        assert w <= expected.width and h <= expected.height, sizes  # never above the display size
        assert w / h == pytest.approx(expected.width / expected.height, rel=0.02), sizes
    assert all(v.get("sample_aspect_ratio") in (None, "1:1", "0:1") for v in videos), videos  # square pixels
    # colour: SDR on every rung; an HDR source converted to BT.709 (an HLG/PQ tag would show washed out on SDR screens)
    assert not {v.get("color_transfer") for v in videos} & {"arib-std-b67", "smpte2084"}, videos
    if expected.hdr:
        assert all(v.get("color_transfer") == "bt709" and v.get("color_primaries") == "bt709" for v in videos), videos

    # picture: no combing. idet misreads testsrc2's fine detail at SD sizes as interlaced even in progressive
    # sources, so the output is held to the source's own idet ratio (the job adds no combing) and, for a source
    # whose fields really carry motion, to none at all (the job removed it).
    interlaced, frames = _interlaced_frames(url, _auth(local_cloud), f"0:{top['index']}")
    in_source, source_frames = _interlaced_frames(str(source), [], "0:v:0")
    assert frames > 0 and source_frames > 0
    assert interlaced / frames <= in_source / source_frames + 0.05, (  # idet's noise: a few frames in a hundred
        f"the job added combing: {interlaced}/{frames} output frames look interlaced, {in_source}/{source_frames} "
        "in the source")
    if case.interlaced_source:
        assert in_source >= 0.9 * source_frames, (
            f"idet finds only {in_source}/{source_frames} interlaced frames in the source: it proves nothing")
        assert interlaced <= frames * 0.01, f"{interlaced} of {frames} output frames still look interlaced"

    # sound: AAC stereo with energy on both sides
    audios = out.audio()
    assert audios and all(a["codec_name"] == "aac" and a["channels"] == 2 for a in audios), audios
    audio = audios[0]
    left, right = _rms_per_channel(url, _auth(local_cloud), f"0:{audio['index']}")
    assert left > -40 and right > -40, (left, right)
    if expected.audio_dual_mono:  # the first programme on both channels: L - R is silence
        (difference,) = _rms_per_channel(url, _auth(local_cloud), f"0:{audio['index']}", "pan=mono|c0=c0-c1")
        assert difference < -60, difference

    if expected.audio_channels == 6:  # BS.775: L = FL + (C + SL) -3 dB, R = FR + (C + SR) -3 dB, no LFE
        _assert_downmix(url, _auth(local_cloud), f"0:{audio['index']}")

    # frame rate: constant in the output (a VFR phone clip too), so 2 s GOPs are whole frames in every rung
    pts = sorted(t for i, t, _ in out.packets if i == top["index"])
    steps = sorted(b - a for a, b in itertools.pairwise(pts))
    frame = steps[len(steps) // 2]
    assert steps[0] > frame - 0.001 and steps[-1] < frame + 0.001, f"output frame steps from {steps[0]} to {steps[-1]}"

    # sync: where the sound starts and ends against the first and last picture, as in the source, within one frame
    v_out, a_out = out.span(top["index"]), _audible(url, _auth(local_cloud), f"0:{audio['index']}")
    v_src, a_src = local.span(local.video()[0]["index"]), _audible(str(source), [], "0:a:0")
    start_skew = (a_out[0] - v_out[0]) - (a_src[0] - v_src[0])
    end_skew = (a_out[1] - v_out[1]) - (a_src[1] - v_src[1])
    assert abs(start_skew) <= frame, f"A/V start offset differs from the source's by {start_skew * 1000:.1f} ms"
    assert abs(end_skew) <= frame, f"A/V end offset differs from the source's by {end_skew * 1000:.1f} ms"


# --------------------------------------------------------------------------------------------------------------------
# refused sources


@pytest.mark.parametrize(("filename", "reason"), [
    ("clip.flv", "FLV is not accepted by the Transcoder API"),
    ("ost.mp3", "audio-only uploads are not videos"),
    ("ost.m4a", "audio-only uploads are not videos"),
    ("poster.png", "image files are not videos"),
    ("dvd.vob", "MPEG program streams"),
])
def test_upload_start_refuses_what_is_not_a_video_listing_the_accepted_extensions(
        local_cloud: StackConfig, filename: str, reason: str) -> None:
    api = api_as(local_cloud, "uploader", f"corpus-start-{uuid.uuid4().hex[:6]}@kstream.local")
    response = api.post("/api/upload/start", json={"filename": filename, "totalSize": 1_000_000,
                                                   "metadata": _metadata("refused")})
    error = assert_envelope(response, 400, "UPLOAD_INVALID_FORMAT")
    assert reason in error["message"]
    assert ", ".join(VIDEO_EXTENSIONS) in error["message"]
    assert error["details"]["supported"] == list(VIDEO_EXTENSIONS)


@pytest.mark.parametrize(("sample", "says"), [
    ("png_as_mp4", "a PNG image"),
    ("flv", "Flash Video (FLV)"),
    ("audio_only_mp3", "audio-only uploads are not videos"),
])
def test_upload_complete_refuses_a_renamed_non_video_naming_what_it_is(local_cloud: StackConfig, corpus: Path,
                                                                       tmp_path: Path, sample: str,
                                                                       says: str) -> None:
    made = SAMPLES[sample].make(corpus)
    renamed = made.with_name(f"renamed-{made.stem}.mp4")
    if not renamed.exists():
        renamed.write_bytes(made.read_bytes())
    with pytest.raises(UploadFailed) as refused:
        _uploader(local_cloud, tmp_path, sample).upload(renamed, _metadata("renamed"))
    assert "UPLOAD_INVALID_FORMAT" in str(refused.value) and says in str(refused.value), str(refused.value)
    assert ".mp4, .m4v, .mov" in str(refused.value)


@pytest.mark.parametrize("sample", ["truncated_mp4", "audio_only_m4a"])
def test_a_source_the_probe_refuses_ends_failed_with_its_reason(local_cloud: StackConfig, corpus: Path,
                                                                 tmp_path: Path, sample: str) -> None:
    made = SAMPLES[sample].make(corpus)
    upload = made.with_name(f"as-video-{made.stem}.mp4")  # an .mp4 by name and by its first bytes
    if not upload.exists():
        upload.write_bytes(made.read_bytes())
    result = _uploader(local_cloud, tmp_path, sample).upload(upload, _metadata("probe refuses"))
    assert result.transcoding_job_id
    status = ts.wait_final(local_cloud, result.transcoding_job_id, timeout=120)
    assert status["status"] == "failed", status
    assert status["error"].startswith("TRANSCODE_FAILED: the source cannot be transcoded: "), status
    assert re.search(SAMPLES[sample].expected.refused or "", status["error"]), status["error"]
    video = ts.wait_for(lambda: (lambda v: v if v.get("status") == "failed" else None)(
        ts.video_as_admin(local_cloud, result.video_id)), what="the video to be failed")
    assert video["status"] == "failed"
    assert api_as(local_cloud, "user").get(f"/api/videos/{result.video_id}").status_code == 404  # viewers never see it
