"""Premiere parts against one job, side by side in the same run (docs/premiere.md, decision 0015).

    source    default a 3-minute 1920x1080 30 fps H.264 source with a continuous 440 Hz sine on the left channel and
              a 10 ms burst every second on the right (tests/emulator/premiere_seams.py), generated once into the
              cache dir; --seconds / --size make it smaller
    arms      parts: the transcode service with the premiere threshold below the source (4 parts: the first half
              as long as the others, each its own local Transcoder job, --workers at once);
              one job: the same service with the threshold above it (the whole ladder in one Transcoder job).
              Both start from the same source object through TranscodeService.start with the upload defaults
              (360p/720p/1080p, HLS + DASH, 6 s segments), alternating parts/one job for --rounds rounds.
    measures  per arm and round: the local Transcoder's CPU time (its process' children's user+sys from /proc,
              only one arm running at a time), start -> playable (parts) and start -> ready, from the job's own
              timestamps; after the first parts arm, the seams through the stream API (HLS): video frame gaps and
              overlaps at each boundary, the longest audio hole, clicks (samples off a fitted sine within 50 ms
              of each splice) and the A/V offset of every part (bursts vs their video timeline).
    prints    medians and spread (min-max) over the rounds; CPU ratio parts/one job; playable/ready ratio.

    --opening instead: is the opening playable sooner as a lowest-rung-only job (issue 17: "the lowest rung may come
              first ... measure")? The first part's time range ([0, first boundary) of the parts arm) as ONE local
              Transcoder job, alone on the machine, with the whole ladder (what makes the video playable today)
              and with the lowest rung only (+ audio, HLS + DASH), alternating for --rounds rounds: wall time from
              create to SUCCEEDED and CPU time of each, and their ratios.

Run: .venv/bin/python bench/bench_premiere.py [--seconds 180] [--size 1920x1080] [--rounds 3] [--workers 2] [--opening]
It starts its own local cloud on free ports (~30 s) and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from contracts.transcode import StartTranscodingRequest  # noqa: E402
from local_emulator.stack import LocalCloud, StackConfig  # noqa: E402
from tests.emulator import premiere_seams  # noqa: E402
from tests.emulator.transcode_support import gcs, job_doc, local_service, settings_for  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def transcoder_cpu(port: int) -> float:
    """CPU seconds (user + sys) of the local Transcoder's finished children (ffmpeg) so far."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"local_emulator.transcoder" in cmdline and str(port).encode() in cmdline:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS  # cutime, cstime
        except OSError:
            continue
    raise SystemExit(f"no local Transcoder process on port {port}")


def _at(value: Any) -> float:
    assert isinstance(value, datetime), value
    return value.timestamp()


def one_arm(cfg: StackConfig, name: str, threshold: float, part_seconds: float) -> dict[str, Any]:
    video_id = f"bench-premiere-{uuid.uuid4().hex[:8]}"
    service = local_service(settings_for(cfg, premiere_threshold_seconds=threshold,
                                         premiere_part_seconds=part_seconds))
    before = transcoder_cpu(cfg.transcoder_port)
    began = time.time()
    started = service.start(StartTranscodingRequest.model_validate({
        "videoId": video_id, "sourcePath": f"gs://{cfg.source_bucket}/{name}",
        "outputFormats": {"hls": {"resolutions": ["360p", "720p", "1080p"], "segmentDuration": 6},
                          "dash": {"resolutions": ["360p", "720p", "1080p"], "segmentDuration": 6}}}))
    deadline = time.monotonic() + 60 * 60
    while True:
        doc = job_doc(started.jobId)
        if doc.get("state") in ("completed", "failed"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"job {started.jobId} not done after an hour")
        time.sleep(0.5)
    if doc["state"] != "completed":
        raise SystemExit(f"job {started.jobId} failed: {doc.get('error')}")
    time.sleep(1.0)  # the last ffmpeg (sprite tiling) is reaped before the job is reported
    out = {"video": video_id, "cpu": transcoder_cpu(cfg.transcoder_port) - before,
           "ready": _at(doc["completedAt"]) - began, "parts": len(doc.get("parts") or [])}
    if doc.get("playableAt"):
        out["playable"] = _at(doc["playableAt"]) - began
    return out


def seams(cfg: StackConfig, video_id: str) -> premiere_seams.HlsSeams:
    from tests.helpers import api_as

    video = api_as(cfg, "admin").get(f"/api/videos/{video_id}").json()
    master_url = video["streamingUrls"]["hls"]

    def fetch(url: str) -> bytes:
        answer = requests.get(url, timeout=60)
        answer.raise_for_status()
        return answer.content

    lines = fetch(master_url).decode().splitlines()
    variants = [lines[i + 1] for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")]
    video_url = requests.compat.urljoin(master_url, variants[-1])  # the top rung
    audio_url = requests.compat.urljoin(master_url, next(line.split('URI="', 1)[1].split('"', 1)[0] for line in lines
                                                         if line.startswith("#EXT-X-MEDIA:") and "TYPE=AUDIO" in line))
    return premiere_seams.hls_seams(fetch(video_url).decode(), video_url, fetch(audio_url).decode(), audio_url, fetch)


def opening_arm(cfg: StackConfig, name: str, config: dict[str, Any], part: Any, rungs: list[str]) -> dict[str, Any]:
    """The opening part's range as one local Transcoder job with ``rungs``: wall time to SUCCEEDED and CPU."""
    from kstream.transcode.parts import part_config

    service = local_service(settings_for(cfg))
    out = f"gs://{cfg.media_bucket}/bench-opening-{uuid.uuid4().hex[:8]}/"
    cut = part_config(_only(config, rungs), part, output_uri=out)
    before = transcoder_cpu(cfg.transcoder_port)
    began = time.time()
    view = service.transcoder.create_job(cut, labels={"kstream_bench": "opening"})
    deadline = time.monotonic() + 60 * 60
    while view.state not in ("SUCCEEDED", "FAILED"):
        if time.monotonic() > deadline:
            raise SystemExit(f"job {view.name} not done after an hour")
        time.sleep(0.25)
        view = service.transcoder.get_job(view.name)
    wall = time.time() - began
    if view.state != "SUCCEEDED":
        raise SystemExit(f"job {view.name} failed: {view.error}")
    time.sleep(1.0)  # the last ffmpeg (sprite tiling) is reaped before the job is reported
    return {"wall": wall, "cpu": transcoder_cpu(cfg.transcoder_port) - before}


def _only(config: dict[str, Any], rungs: list[str]) -> dict[str, Any]:
    """``config`` (ladder.build_job_config, all rungs) keeping the video streams of ``rungs`` and the audio."""
    from kstream.transcode import ladder

    if rungs == list(ladder.rendition_names(config)):
        return config
    keep_video = {ladder.VIDEO_ES_PREFIX + r for r in rungs}
    streams = [s for s in config["elementaryStreams"]
               if "videoStream" not in s or s["key"] in keep_video]
    keys = {s["key"] for s in streams}
    muxes = [m for m in config["muxStreams"] if set(m["elementaryStreams"]) <= keys]
    mux_keys = {m["key"] for m in muxes}
    manifests = [{**m, "muxStreams": [k for k in m["muxStreams"] if k in mux_keys]} for m in config["manifests"]]
    return {**config, "elementaryStreams": streams, "muxStreams": muxes, "manifests": manifests}


def run_opening(cfg: StackConfig, args: argparse.Namespace, path: Path, name: str) -> None:
    from kstream.transcode import ladder, media_probe
    from kstream.transcode.parts import plan_parts
    from pymediainfo import MediaInfo

    info = media_probe.describe(MediaInfo.parse(str(path)))
    config = ladder.build_job_config(info, input_uri=f"gs://{cfg.source_bucket}/{name}",
                                     output_uri=f"gs://{cfg.media_bucket}/bench-opening/",
                                     pubsub_topic=f"projects/{cfg.project_id}/topics/{cfg.transcoder_topic}",
                                     segment_seconds=6, formats=["hls", "dash"])
    rungs = list(ladder.rendition_names(config))
    part = plan_parts(info.duration_seconds, segment_seconds=6, threshold_seconds=1,
                      part_seconds=args.seconds / 3.5, max_parts=10)[0]
    print(f"opening part [0, {part.end:g}) s of {args.seconds} s as one job: all rungs {rungs} vs {rungs[:1]} only, "
          f"{args.rounds} round(s)", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"all": [], "lowest": []}
    for round_ in range(args.rounds):
        order = ["all", "lowest"] if round_ % 2 == 0 else ["lowest", "all"]
        for arm in order:
            figures = opening_arm(cfg, name, config, part, rungs if arm == "all" else rungs[:1])
            runs[arm].append(figures)
            print(f"  round {round_ + 1} {arm:<6} wall {figures['wall']:.1f} s, cpu {figures['cpu']:.1f} s",
                  flush=True)
    for what in ("wall", "cpu"):
        print(f"{what}: all rungs {spread([r[what] for r in runs['all']])}; lowest only "
              f"{spread([r[what] for r in runs['lowest']])}; lowest / all per round "
              f"{spread([lo[what] / al[what] for lo, al in zip(runs['lowest'], runs['all'], strict=True)])}")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def run(cfg: StackConfig, args: argparse.Namespace) -> None:
    os.environ.update({k: v for k, v in cfg.emulator_env().items() if k != "FIREBASE_AUTH_EMULATOR_HOST"})
    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / f"premiere-{args.size}-{args.seconds}s.mp4"
    if not path.exists():
        print(f"making the source {path} ...", flush=True)
        premiere_seams.make_marked_source(path.with_suffix(".tmp.mp4"), args.seconds, size=args.size,
                                          preset="veryfast")
        path.with_suffix(".tmp.mp4").rename(path)
    name = f"premiere/bench-{uuid.uuid4().hex[:8]}/episode.mp4"
    blob = gcs().bucket(cfg.source_bucket).blob(name)
    blob.metadata = {"uploaderId": "uploader-bench", "title": "Premiere bench", "series": "Premiere bench",
                     "episode": "1", "language": "ko"}
    blob.upload_from_filename(str(path), content_type="video/mp4")
    if args.opening:
        run_opening(cfg, args, path, name)
        return
    part_seconds = args.seconds / 3.5  # 4 parts, the first half as long (parts.FIRST_PART_SHARE)
    print(f"source {path.name} ({path.stat().st_size / 1e6:.1f} MB, {args.seconds} s), local Transcoder workers "
          f"{cfg.transcoder_workers}, {args.rounds} round(s) of parts / one job", flush=True)
    parts_runs: list[dict[str, Any]] = []
    one_runs: list[dict[str, Any]] = []
    seam = None
    for round_ in range(args.rounds):
        order = [("parts", 1.0), ("one job", 1e9)] if round_ % 2 == 0 else [("one job", 1e9), ("parts", 1.0)]
        for arm, threshold in order:
            figures = one_arm(cfg, name, threshold, part_seconds)
            (parts_runs if arm == "parts" else one_runs).append(figures)
            print(f"  round {round_ + 1} {arm:<8} cpu {figures['cpu']:.1f} s, ready {figures['ready']:.1f} s"
                  + (f", playable {figures['playable']:.1f} s" if "playable" in figures else "")
                  + f", parts {figures['parts']}", flush=True)
            if arm == "parts" and seam is None:
                seam = seams(cfg, figures["video"])
    ratios = [p["cpu"] / o["cpu"] for p, o in zip(parts_runs, one_runs, strict=True)]
    print("\nCPU time of the local Transcoder (s):")
    print(f"  parts    {spread([r['cpu'] for r in parts_runs])}")
    print(f"  one job  {spread([r['cpu'] for r in one_runs])}")
    print(f"  parts / one job, per round: {spread(ratios)}")
    print("Wall time from start (s):")
    print(f"  parts: playable {spread([r['playable'] for r in parts_runs])}")
    print(f"  parts: ready    {spread([r['ready'] for r in parts_runs])}")
    print(f"  one job: ready  {spread([r['ready'] for r in one_runs])}")
    print(f"  playable / ready (parts), per round: {spread([r['playable'] / r['ready'] for r in parts_runs])}")
    print(f"  playable (parts) / ready (one job), per round: "
          f"{spread([p['playable'] / o['ready'] for p, o in zip(parts_runs, one_runs, strict=True)])}")
    print(f"  ready (parts) / ready (one job), per round: "
          f"{spread([p['ready'] / o['ready'] for p, o in zip(parts_runs, one_runs, strict=True)])}")
    if seam is not None:
        fps_gap = max(abs(b - a - seam.frame_step) for a, b in zip(seam.frame_times, seam.frame_times[1:],
                                                                   strict=False))
        print(f"Seams (HLS through the stream API, top rung + audio), boundaries at {seam.boundaries} s:")
        print(f"  video frames {len(seam.frame_times)}, largest deviation of a frame step from "
              f"{seam.frame_step * 1000:.2f} ms: {fps_gap * 1000:.3f} ms; per seam (next first frame - last + 1 "
              f"frame): {[round(e * 1000, 3) for e in seam.video_seam_errors]} ms")
        print(f"  longest audio hole: {seam.audio_gap_samples} samples "
              f"({seam.audio_gap_samples / premiere_seams.RATE * 1000:.1f} ms; one AAC frame = 1024)")
        print(f"  samples off the sine by > 10 % within 50 ms of each splice: {seam.seam_disturbance}; "
              f"codec noise away from seams {seam.residual_far * 100:.2f} % of the amplitude")
        offsets = seam.av_offsets
        print(f"  A/V offset (audio late +) per second of the video, ms: "
              f"{[round(o * 1000, 1) for o in offsets]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="local Transcoder jobs at once")
    parser.add_argument("--opening", action="store_true",
                        help="measure the opening part as a lowest-rung-only job against the whole ladder")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "kstream-bench-cache")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="kstream-cloud-"))
    cfg = StackConfig.ephemeral(state, transcoder_workers=args.workers)
    try:
        with (state / "stack.log").open("w") as log, LocalCloud(cfg, log=log, colour=False):
            run(cfg, args)
    except BaseException:
        print(f"local cloud log: {state / 'stack.log'}", file=sys.stderr)
        raise
    shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
