"""Job execution: a bounded pool of workers; each job downloads its inputs from the storage emulator (the edit
atom's media file, sideloaded caption files, other media an audio mapping names), reads the captions, runs ONE
ffmpeg process (see ffmpeg_plan; plus an SEI pass and a stream copy for embedded cea608/708 captions, and before it
the first pass of ``enableTwoPass`` renditions: the first half of the job's encoding progress), writes the
WebVTT of the vtt mux streams, encrypts the mux streams that name an encryption (encryption.py) and writes the
manifests, uploads every output and publishes the result.

State machine: PENDING -> RUNNING -> SUCCEEDED | FAILED. A job never hangs: ffmpeg runs in its own process group
and is killed on the per-job timeout, on delete and on shutdown; its stderr tail becomes the failure reason.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import requests

from . import captions, cea608, encryption, manifests
from .config import is_valid_gcs_object, split_gcs_dir
from .errors import ApiError
from .ffmpeg_plan import CAPTIONED, ENCODED, MediaInput, build_plan
from .gcs import ObjectNotFound, Storage
from .notify import Notifier, job_result_message
from .probe import ProbeError, probe
from .store import JobRecord, Store, now_rfc3339

log = logging.getLogger("local_emulator.transcoder")


class _Stop(Exception):
    """The job was deleted or the emulator is shutting down."""


def queue_rank(job: dict) -> tuple[int, int]:
    """Where a job waits: (0, 0) interactive (the default mode); (1, -batchModePriority) batch."""
    if job.get("mode") == "PROCESSING_MODE_BATCH":
        return 1, -int(job.get("batchModePriority") or 0)
    return 0, 0


class JobRunner:
    def __init__(self, store: Store, *, workers: int = 1, job_timeout: float = 3600.0,
                 missing_audio: str = "skip", min_input_seconds: float = 5.0, work_dir: str | None = None,
                 storage_host: str | None = None, notifier: Notifier | None = None,
                 secrets: encryption.SecretDirectory | None = None):
        self.store = store
        self.job_timeout = job_timeout
        self.missing_audio = missing_audio
        self.min_input_seconds = min_input_seconds
        self.work_dir = work_dir
        self.storage_host = storage_host
        self.notifier = notifier or Notifier()
        # the keys of JobConfig.encryptions (Secret Manager stand-in); None: TRANSCODER_SECRETS_DIR, read per job
        self.secrets = secrets
        # Interactive jobs run first, then batch jobs by batchModePriority (higher first), each FIFO (the v1
        # reference: "Jobs submitted in batch mode with the same priority value are put in a first-in, first out
        # queue"); the shutdown marker sorts last of all.
        self._queue: queue.PriorityQueue[tuple[int, int, int, JobRecord | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._worker, name=f"transcoder-worker-{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ control

    def submit(self, record: JobRecord) -> None:
        self._queue.put((*queue_rank(record.job), next(self._order), record))

    def cancel(self, record: JobRecord) -> None:
        record.cancel.set()
        _kill(record.process)

    def shutdown(self, wait: float = 10.0) -> None:
        self._stopping.set()
        with self.store.lock:
            records = list(self.store.jobs.values())
        for record in records:
            self.cancel(record)
        for _ in self._threads:
            self._queue.put((2, 0, next(self._order), None))
        deadline = time.monotonic() + wait
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.notifier.close()

    # ------------------------------------------------------------------ worker

    def _worker(self) -> None:
        while True:
            *_rank, record = self._queue.get()
            if record is None or self._stopping.is_set():
                return
            if record.cancel.is_set():
                continue
            try:
                self._execute(record)
            except Exception:  # never lose a worker
                log.exception("job %s crashed the worker", record.job.get("name"))
            finally:
                record.done.set()

    def _execute(self, record: JobRecord) -> None:
        name = record.job["name"]
        self.store.update(record, state="RUNNING", startTime=now_rfc3339())
        workdir = tempfile.mkdtemp(prefix="kstream-transcoder-", dir=self.work_dir)
        error: ApiError | None = None
        try:
            self._transcode(record, workdir)
        except _Stop:
            log.info("job %s stopped", name)
            return
        except ApiError as exc:
            error = exc
        except requests.RequestException as exc:
            error = ApiError("UNAVAILABLE",
                             f"Cloud Storage is unreachable (storage emulator): {exc.__class__.__name__}")
        except Exception as exc:
            log.exception("job %s failed unexpectedly", name)
            error = ApiError("INTERNAL", f"internal error: {exc}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if record.cancel.is_set():
            return
        state = "FAILED" if error else "SUCCEEDED"
        fields = {"state": state, "endTime": now_rfc3339()}
        if error:
            fields["error"] = error.rpc_status()
        self.store.update(record, **fields)
        if error:
            log.info("job %s FAILED: %s", name, error.message)
        else:
            log.info("job %s SUCCEEDED", name)
        topic = (record.job["config"].get("pubsubDestination") or {}).get("topic")
        if topic:
            self.notifier.publish(topic, job_result_message(name, state, fields.get("error")))
        with self.store.lock:
            record.progress["notified"] = 1.0

    def _check(self, record: JobRecord) -> None:
        if record.cancel.is_set() or self._stopping.is_set():
            raise _Stop()

    def _transcode(self, record: JobRecord, workdir: str) -> None:
        config = record.job["config"]
        try:
            storage = Storage(self.storage_host)
        except RuntimeError as exc:
            raise ApiError("FAILED_PRECONDITION", str(exc)) from None
        atom = config["editList"][0]
        used = {key for each in config["editList"] for key in each["inputs"]}
        paths: dict[str, str] = {}
        for n, item in enumerate(config["inputs"]):
            if item["key"] not in used:
                continue
            bucket, obj = is_valid_gcs_object(item["uri"])
            ext = os.path.splitext(obj)[1][:16] or ".bin"
            paths[item["key"]] = os.path.join(workdir, f"input{n}{ext}")
            try:
                storage.download(bucket, obj, paths[item["key"]])
            except ObjectNotFound:
                raise ApiError("NOT_FOUND", f"Input file not found: {item['uri']}") from None
            self._check(record)
        uris = {item["key"]: item["uri"] for item in config["inputs"]}
        media: dict[str, MediaInput] = {}
        caption_cues: dict[str, list] = {}
        for key in dict.fromkeys(k for each in config["editList"] for k in each["inputs"]):  # first atom's first
            if captions.is_caption_file(paths[key]):
                caption_cues[key] = captions.read_caption_file(paths[key], f"Input file {uris[key]}")
                continue
            try:
                info = probe(paths[key])
            except ProbeError as exc:
                raise ApiError("INVALID_ARGUMENT", f"Input file {uris[key]} could not be read: {exc}") from None
            preprocessing = next(i.get("preprocessingConfig") or {} for i in config["inputs"] if i["key"] == key)
            media[key] = MediaInput(key, paths[key], info, preprocessing)
        if not media or not any(k in media for k in atom["inputs"]):
            raise ApiError("INVALID_ARGUMENT", f"edit atom '{atom['key']}' has no video or audio input")
        main = next(iter(media.values()))
        if main.info.duration + 1e-3 < self.min_input_seconds:
            raise ApiError("INVALID_ARGUMENT", f"Input file {uris[main.key]} is {main.info.duration:.2f} seconds long; "
                                               f"input files must be at least {self.min_input_seconds:g} seconds in "
                                               "duration")
        texts = {}
        for stream in config["elementaryStreams"]:
            text = stream.get("textStream")
            if text:
                key = text["mapping"][0]["inputKey"]
                texts[stream["key"]] = caption_cues[key] if key in caption_cues else captions.read_embedded_captions(
                    paths[key], f"Input file {uris[key]}")
        with self.store.lock:
            record.progress["analyzed"] = 1.0
        out_dir = os.path.join(workdir, "out")
        os.makedirs(out_dir)
        images = self._download_overlays(record, storage, config.get("overlays") or [], workdir)
        plan = build_plan(config, main.info, main.path, missing_audio=self.missing_audio, media_key=main.key,
                          inputs=media, texts=texts, overlay_images=images)
        for sprite in plan.sprites:
            os.makedirs(os.path.normpath(os.path.join(out_dir, sprite.frames_dir)))
        for note in plan.notes:
            log.info("job %s: %s", record.job["name"], note)
        started = time.monotonic()
        if plan.argv and plan.first_pass_argv:  # enableTwoPass: pass 1 writes the statistics pass 2 reads
            self._run_ffmpeg(record, plan.first_pass_argv, out_dir, plan.output_duration, plan.expected_frames,
                             span=(0.0, 0.5))
            self._check(record)
            remaining = max(1.0, self.job_timeout - (time.monotonic() - started))  # one timeout for both passes
            self._run_ffmpeg(record, plan.argv, out_dir, plan.output_duration, plan.expected_frames, span=(0.5, 1.0),
                             timeout=remaining)
        elif plan.argv:
            self._run_ffmpeg(record, plan.argv, out_dir, plan.output_duration, plan.expected_frames)
        self._check(record)
        if plan.embedded is not None and plan.package_argv:
            self._embed_captions(record, plan, out_dir)
        for sprite in plan.sprites:  # lay the thumbnails out into sheets (reads only the small PNGs)
            if not os.listdir(os.path.normpath(os.path.join(out_dir, sprite.frames_dir))):
                continue
            remaining = max(1.0, self.job_timeout - (time.monotonic() - started))
            try:
                done = subprocess.run(sprite.tile_argv, cwd=out_dir, capture_output=True, text=True,
                                      timeout=remaining, check=False)
            except subprocess.TimeoutExpired:
                raise ApiError("DEADLINE_EXCEEDED", "sprite sheet tiling exceeded the per-job timeout") from None
            if done.returncode != 0:
                raise ApiError("INTERNAL", f"sprite sheet '{sprite.prefix}' failed: {done.stderr.strip()[-500:]}")
        self._write_text_muxes(plan, out_dir)
        manifests.write_manifests(out_dir, plan.muxes, plan.manifests,
                                  protect=lambda: encryption.protect(out_dir, plan.muxes, config, self.secrets))
        out_bucket, prefix = split_gcs_dir(config["output"]["uri"])
        total = sum(len(files) for _, _, files in os.walk(out_dir)) or 1
        uploaded = [0]

        def on_done() -> None:
            with self.store.lock:
                uploaded[0] += 1
                record.progress["uploaded"] = round(uploaded[0] / total, 4)

        try:
            storage.upload_tree(out_dir, out_bucket, prefix, on_done)
        except ObjectNotFound as exc:
            raise ApiError("NOT_FOUND", f"Output location not found: {exc}") from None

    def _download_overlays(self, record: JobRecord, storage: Storage, overlays: list[dict], workdir: str) -> list[str]:
        """Each overlay's image, checked to be PNG or JPEG by its bytes (the reference: "Only PNG and JPEG images are
        supported")."""
        paths = []
        for n, overlay in enumerate(overlays):
            uri = overlay["image"]["uri"]
            bucket, obj = is_valid_gcs_object(uri)
            path = os.path.join(workdir, f"overlay{n}")
            try:
                storage.download(bucket, obj, path)
            except ObjectNotFound:
                raise ApiError("NOT_FOUND", f"job.config.overlays[{n}].image.uri: image not found: {uri}") from None
            with open(path, "rb") as handle:
                head = handle.read(8)
            if not (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff")):
                raise ApiError("INVALID_ARGUMENT", f"job.config.overlays[{n}].image.uri: {uri} is not a PNG or JPEG "
                                                   "image")
            paths.append(path)
            self._check(record)
        return paths

    def _embed_captions(self, record: JobRecord, plan, out_dir: str) -> None:
        """cea608/708: caption SEI into every encoded video stream, then copy into the mux streams."""
        rungs = sorted({m.video.index: m.video for m in plan.muxes if m.video}.values(), key=lambda r: r.index)
        frames = {r.index: (r.fps, cea608.frame_pairs(plan.embedded.cues, r.fps,
                                                      math.ceil(plan.output_duration * float(r.fps)) + 1))
                  for r in rungs}
        cea608.embed(os.path.join(out_dir, ENCODED), os.path.join(out_dir, CAPTIONED), frames)
        self._check(record)
        self._run_ffmpeg(record, plan.package_argv, out_dir, plan.output_duration, 0)

    def _write_text_muxes(self, plan, out_dir: str) -> None:
        """vtt mux streams: WebVTT segments whose X-TIMESTAMP-MAP matches the media of their HLS manifest."""
        by_key = {m.key: m for m in plan.muxes}
        for mux in plan.muxes:
            if mux.text is None:
                continue
            mpegts = 0
            for manifest in plan.manifests:
                if manifest["type"] == "HLS" and mux.key in manifest["muxStreams"]:
                    members = [by_key[n] for n in manifest["muxStreams"]]
                    video = next((m for m in members if m.video), None)
                    audio = next((m for m in members if m.audio and not m.video), None)
                    mpegts = captions.first_pts(out_dir, [m.playlist for m in (video, audio) if m is not None])
                    break
            captions.write_vtt_mux(out_dir, mux.key, mux.file_name, mux.text.cues, plan.output_duration,
                                   mux.segment_seconds, mux.individual_segments, mpegts)

    def _run_ffmpeg(self, record: JobRecord, argv: list[str], cwd: str, duration: float, frames: int,
                    span: tuple[float, float] = (0.0, 1.0), timeout: float | None = None) -> None:
        """Run the plan; progress from ``-progress pipe:1``: frames of the first rung when there is video (the
        sprite outputs' timestamps would skew out_time), else out_time against the output duration; ``span`` is the
        part of the encoding progress this run covers (a two-pass job's first pass: the first half); ``timeout`` what is
        left of the per-job timeout (default: all of it)."""
        low, high = span
        stderr_path = os.path.join(cwd, "..", "ffmpeg.stderr")
        timed_out = threading.Event()
        with open(stderr_path, "w+b") as stderr:
            proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
                                    start_new_session=True, text=True, bufsize=1)
            record.process = proc
            if record.cancel.is_set() or self._stopping.is_set():
                _kill(proc)

            def on_timeout() -> None:
                timed_out.set()
                _kill(proc)

            timer = threading.Timer(self.job_timeout if timeout is None else timeout, on_timeout)
            timer.daemon = True
            timer.start()
            try:
                for line in proc.stdout:
                    key, _, value = line.strip().partition("=")
                    fraction = None
                    if frames and key == "frame" and value.isdigit():
                        fraction = int(value) / frames
                    elif not frames and key == "out_time_us" and value.lstrip("-").isdigit() and duration > 0:
                        fraction = int(value) / 1e6 / duration
                    if fraction is not None:
                        fraction = low + (high - low) * min(0.999, max(0.0, fraction))  # high: at the end
                        with self.store.lock:
                            record.progress["encoded"] = round(max(record.progress["encoded"], fraction), 4)
                    elif key == "progress" and value == "end":
                        with self.store.lock:
                            record.progress["encoded"] = max(record.progress["encoded"], high)
                code = proc.wait()
            finally:
                timer.cancel()
                record.process = None
                _kill(proc)
            stderr.seek(0)
            tail = stderr.read()[-4000:].decode("utf-8", "replace")
        self._check(record)
        if timed_out.is_set():
            raise ApiError("DEADLINE_EXCEEDED", f"transcoding exceeded the per-job timeout of {self.job_timeout:g}s")
        if code != 0:
            lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
            reason = " | ".join(lines[-4:]) if lines else f"ffmpeg exited with status {code}"
            if code < 0:
                reason = f"ffmpeg was killed by signal {-code}" + (f": {reason}" if lines else "")
            raise ApiError("INVALID_ARGUMENT" if code > 0 else "INTERNAL", f"Transcoding failed: {reason[:1500]}")


def _kill(proc) -> None:
    """Kill ffmpeg's whole process group (it runs in a session of its own)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except ProcessLookupError:
            pass
