"""Time from upload `complete` to a `ready` video through the whole local pipeline, and where it goes.

    source    a 10 s H.264 + AAC MP4 (default 1280x720 30 fps, generated once into the cache dir)
    path      kstream.client's Uploader (start -> signed chunk PUTs -> complete) ... then, timed from the moment
              complete answers: source finalize notice (fake-gcs-server -> Pub/Sub) -> event bridge ->
              on-source-uploaded (probe by byte ranges, job config, create_job) -> local Transcoder (download,
              ffmpeg ladder, upload) -> Pub/Sub notice -> on-transcoder-event (outputs, catalog) -> the video
              reads `ready` through GET /api/videos/:id (polled every 50 ms as its uploader)
    prints    complete -> ready (median of --runs), its ratio to the source duration, and the stages from the
              job's own timestamps: complete -> job claimed -> Transcoder job started -> ended -> job completed

Run: .venv/bin/python bench/bench_pipeline.py [--runs 3] [--size 1280x720] [--seconds 10] [--stack STATE_DIR]
Without --stack it starts its own local cloud on free ports (~30 s) and stops it at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
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

from kstream.client import UploadApi, Uploader  # noqa: E402

from local_emulator import tokens  # noqa: E402
from local_emulator.stack import StackConfig, on_local_cloud  # noqa: E402


def source(cache: Path, size: str, seconds: int) -> Path:
    path = cache / f"pipeline-{size}-{seconds}s.mp4"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.mp4")
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc2=size={size}:rate=30:duration={seconds}", "-f", "lavfi", "-i",
                        f"sine=frequency=440:sample_rate=48000:duration={seconds}", "-c:v", "libx264", "-preset",
                        "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
                        "-movflags", "+faststart", "-shortest", str(tmp)], check=True)
        tmp.rename(path)
    return path


def _at(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def one_run(cfg: StackConfig, path: Path, work: Path) -> dict[str, float]:
    from google.cloud import firestore

    token = tokens.user_token(cfg, "uploader")
    uploader = Uploader(UploadApi(cfg.gateway_url, token), state_dir=work / uuid.uuid4().hex, show_progress=False)
    result = uploader.upload(path, {"title": "Bench", "series": f"Bench {uuid.uuid4().hex[:8]}", "episode": 1,
                                    "language": "ko"})
    complete_wall, complete_mono = time.time(), time.monotonic()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    deadline = complete_mono + 600
    while True:
        answer = session.get(f"{cfg.gateway_url}/api/videos/{result.video_id}", timeout=30)
        status = answer.json().get("status") if answer.status_code == 200 else None
        if status == "ready":
            ready = time.monotonic() - complete_mono
            break
        if status == "failed" or time.monotonic() > deadline:
            raise SystemExit(f"video {result.video_id} ended {status!r}: {answer.text[:300]}")
        time.sleep(0.05)
    job = firestore.Client(project=cfg.project_id).collection("transcodeJobs").document(
        str(result.transcoding_job_id)).get().to_dict() or {}
    view = requests.get(f"{cfg.transcoder_url}/v1/{job['transcoderJobName']}", timeout=10).json()
    stamps = {"claimed": _at(job.get("createdAt")), "transcoder started": _at(view.get("startTime")),
              "transcoder ended": _at(view.get("endTime")), "job completed": _at(job.get("completedAt"))}
    stages = {name: (at - complete_wall) for name, at in stamps.items() if at is not None}
    return {"complete -> ready": ready, **{f"complete -> {k}": v for k, v in stages.items()}}


def run(cfg: StackConfig, args: argparse.Namespace) -> None:
    os.environ.update({k: v for k, v in cfg.emulator_env().items() if k != "FIREBASE_AUTH_EMULATOR_HOST"})
    path = source(args.cache, args.size, args.seconds)
    print(f"source: {path.name} ({path.stat().st_size / 1e6:.1f} MB, {args.seconds} s), {args.runs} run(s)",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="kstream-bench-pipeline-") as tmp:
        runs = []
        for index in range(args.runs):
            figures = one_run(cfg, path, Path(tmp))
            runs.append(figures)
            print(f"  run {index + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()), flush=True)
    median = {key: statistics.median(r[key] for r in runs if key in r) for key in runs[0]}
    total = median["complete -> ready"]
    print(f"complete -> ready: {total:.2f} s median for a {args.seconds} s source = "
          f"{total / args.seconds:.2f}x the source duration")
    previous = 0.0
    for key, value in median.items():
        if key == "complete -> ready":
            continue
        print(f"  {key:<38} {value:6.2f} s  (+{value - previous:.2f})")
        previous = value
    print(f"  {'complete -> ready (seen by a client)':<38} {total:6.2f} s  (+{total - previous:.2f})")


def source_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The source and stack options of a bench that runs sources through the pipeline (this one, bench_subtitles)."""
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "kstream-bench-cache")
    parser.add_argument("--stack", type=Path, help="state dir of a running local cloud to use instead of a new one")
    return parser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = source_arguments(parser).parse_args()
    on_local_cloud(lambda cfg: run(cfg, args), args.stack)

if __name__ == "__main__":
    main()
