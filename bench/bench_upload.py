"""Uploads: our end-to-end path against one plain streaming PUT of the same bytes to the same storage emulator.

    1 GiB   baseline: one streaming PUT of the file straight to fake-gcs-server (no signature, no gateway)
            ours:     kstream.client's Uploader as the CLI runs it (chunk size picked for a one-call compose,
                      chunk MD5s computed while sending) -> start -> parallel signed chunk PUTs through the gateway's
                      storage front (signature + Content-MD5 checked) -> complete (compose, CRC32C check, copy to
                      the source bucket, chunk deletes)
            floor:    the storage steps the issue's design cannot skip, with nothing of ours around them: the same
                      chunks PUT in parallel straight to fake-gcs-server, one compose call, one copy into the
                      source bucket (no functions, no gateway, no checks), timed step by step
            ratio ours / baseline (target < 1.25), rounds alternated so machine noise hits both alike, medians;
            floor / baseline says how much of that fake-gcs-server alone costs: it re-reads, re-hashes and
            re-writes every byte on compose and on copy, where Cloud Storage copies none;
            ours broken down per phase (client side and, from the function's "upload completed" log line, inside
            complete), and the peak RSS of fake-gcs-server during each side.
    410 chunks (256 KiB each, hex-MD5 finalChecksum so complete streams the composite): compose calls and levels
            (from the function's "upload completed" log line), wall time of complete, and the peak RSS of the
            function workers during complete (VmHWM reset through /proc/<pid>/clear_refs just before).

Run: .venv/bin/python bench/bench_upload.py [--size-mib 1024] [--rounds 1] [--parallel 4] [--chunk-mib N]
     [--chunk-checksums header|bound|off] [--skip-410] [--stack STATE_DIR]
Without --stack it starts its own local cloud on free ports (~30 s), stops it at the end and deletes its state.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from kstream.client import UploadApi, Uploader  # noqa: E402
from kstream.client.uploader import CHUNK_CHECKSUMS  # noqa: E402

from local_emulator import tokens  # noqa: E402
from local_emulator.stack import StackConfig, on_local_cloud  # noqa: E402

MIB = 1024 * 1024
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"


def make_file(path: Path, size: int, seed: int) -> None:
    """``size`` bytes of a seeded AES-CTR keystream (an MP4 ftyp box first, so the container sniff passes)."""
    key = hashlib.sha256(f"kstream-bench-{seed}".encode()).digest()
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    zeros = bytes(8 * MIB)
    with path.open("wb") as out:
        out.write(MP4_HEAD)
        left = size - len(MP4_HEAD)
        while left > 0:
            piece = min(len(zeros), left)
            out.write(stream.update(zeros[:piece]))
            left -= piece


def direct_put(cfg: StackConfig, name: str, body: object) -> requests.Response:
    """An XML-API PUT of ``body`` straight to fake-gcs-server's upload bucket, which routes a PUT to its XML handler
    only when the query looks signed (it checks nothing)."""
    url = f"{cfg.gcs_url}/{cfg.upload_bucket}/{name}?X-Goog-Algorithm=GOOG4-RSA-SHA256"
    response = requests.put(url, data=body, headers={"Content-Type": "application/octet-stream"}, timeout=600)
    response.raise_for_status()
    return response


def direct_delete(cfg: StackConfig, bucket: str, name: str) -> None:
    requests.delete(f"{cfg.gcs_url}/storage/v1/b/{bucket}/o/{quote(name, safe='')}", timeout=60)


def baseline_put(cfg: StackConfig, path: Path, name: str, api: str) -> float:
    """One streaming upload of the whole file straight to fake-gcs-server: a JSON-API media POST, or an XML PUT."""
    started = time.perf_counter()
    with path.open("rb") as body:
        if api == "json":
            url = f"{cfg.gcs_url}/upload/storage/v1/b/{cfg.upload_bucket}/o?uploadType=media&name={name}"
            requests.post(url, data=body, headers={"Content-Type": "application/octet-stream"},
                          timeout=600).raise_for_status()
        else:
            direct_put(cfg, name, body)
    seconds = time.perf_counter() - started
    direct_delete(cfg, cfg.upload_bucket, name)
    return seconds


def storage_floor(cfg: StackConfig, path: Path, chunk_size: int, parallel: int, tag: str) -> dict[str, float]:
    """The storage steps alone: parallel chunk PUTs straight to fake-gcs-server, one compose, one copy."""
    size = path.stat().st_size
    names = [f"floor/{tag}/chunk-{i:05d}" for i in range(-(-size // chunk_size))]

    def put(index: int) -> None:
        with path.open("rb") as source:
            source.seek(index * chunk_size)
            body = source.read(chunk_size)
        direct_put(cfg, names[index], body)

    api = f"{cfg.gcs_url}/storage/v1/b"
    composed = f"floor/{tag}/composed"
    clock = time.perf_counter()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(put, range(len(names))))
    chunks = time.perf_counter() - clock
    clock = time.perf_counter()
    requests.post(f"{api}/{cfg.upload_bucket}/o/{quote(composed, safe='')}/compose", timeout=600,
                  json={"sourceObjects": [{"name": name} for name in names],
                        "destination": {"contentType": "video/mp4"}}).raise_for_status()
    compose = time.perf_counter() - clock
    clock = time.perf_counter()
    requests.post(f"{api}/{cfg.upload_bucket}/o/{quote(composed, safe='')}/rewriteTo/b/{cfg.source_bucket}/o/"
                  f"{quote(f'floor/{tag}.mp4', safe='')}", json={}, timeout=600).raise_for_status()
    copy = time.perf_counter() - clock
    for bucket, name in [*((cfg.upload_bucket, name) for name in [*names, composed]),
                         (cfg.source_bucket, f"floor/{tag}.mp4")]:
        direct_delete(cfg, bucket, name)
    return {"chunks": chunks, "compose": compose, "copy": copy, "total": chunks + compose + copy}


def worker_pids(cfg: StackConfig) -> list[int]:
    master = json.loads((Path(cfg.state_dir) / "pids.json").read_text())["functions"]
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def last_completed_log(cfg: StackConfig, upload_id: str) -> dict[str, object]:
    log = Path(cfg.state_dir) / "stack.log"
    found: dict[str, object] = {}
    for line in log.read_text(errors="replace").splitlines():
        if upload_id in line and "upload completed" in line:
            found = json.loads(line[line.index("{"):])
    return found


class PeakRss:
    """Samples a process's RSS every 50 ms on a thread; ``peak`` in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, status_kib(self.pid, "VmRSS") // 1024)
            except (OSError, KeyError):
                return
            self._stop.wait(0.05)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def storage_pid(cfg: StackConfig) -> int:
    return int(json.loads((Path(cfg.state_dir) / "pids.json").read_text())["storage"])


CLIENT_PHASES = ("checksums", "start", "chunks", "finalChecksum", "complete")
SERVER_PHASES = (("composeSeconds", "compose"), ("verifySeconds", "verify"), ("sourceCopySeconds", "source copy"),
                 ("cleanupSeconds", "chunk deletes"))


def run(cfg: StackConfig, args: argparse.Namespace) -> None:
    token = tokens.user_token(cfg, "uploader", f"bench-{os.getpid()}-{random.randrange(10**9)}@kstream.local")
    work = Path(tempfile.mkdtemp(prefix="kstream-bench-"))
    try:
        big = work / "episode-1gib.mp4"
        clock = time.perf_counter()
        make_file(big, args.size_mib * MIB, seed=20261127)
        print(f"generated {args.size_mib} MiB from a seeded RNG in {time.perf_counter() - clock:.1f}s")
        for _ in range(8):  # warm both function workers (handler import, Firestore client), as a busy service is
            requests.get(f"{cfg.gateway_url}/api/upload/status/{'0' * 32}", timeout=60,
                         headers={"Authorization": f"Bearer {token}"})
        gcs_pid = storage_pid(cfg)
        base_times: dict[str, list[float]] = {"xml": [], "json": []}
        base_rss: list[int] = []
        floors: list[dict[str, float]] = []
        ours_times: list[float] = []
        ours_rss: list[int] = []
        phases: dict[str, list[float]] = {}
        chunk_size = args.chunk_mib * MIB if args.chunk_mib else None
        for round_ in range(args.rounds):
            with PeakRss(gcs_pid) as rss:
                for api in ("xml", "json"):
                    base_times[api].append(baseline_put(cfg, big, f"bench/baseline-{api}-{round_}", api))
            base_rss.append(rss.peak)
            uploader = Uploader(UploadApi(cfg.gateway_url, token), parallel=args.parallel, chunk_size=chunk_size,
                                chunk_checksums=args.chunk_checksums, state_dir=work / "state", show_progress=False)
            clock = time.perf_counter()
            with PeakRss(gcs_pid) as rss:
                result = uploader.upload(big, {"title": f"Bench {round_}", "series": "Bench", "episode": round_ + 1})
            ours_times.append(time.perf_counter() - clock)
            ours_rss.append(rss.peak)
            facts = last_completed_log(cfg, result.upload_id)
            floors.append(storage_floor(cfg, big, -(-big.stat().st_size // result.total_chunks), args.parallel,
                                        f"round-{round_}"))
            for key in CLIENT_PHASES:
                phases.setdefault(key, []).append(result.timings.get(key, 0.0))
            for key, _ in SERVER_PHASES:
                phases.setdefault(key, []).append(float(facts.get(key) or 0.0))  # type: ignore[arg-type]
            size = result.total_chunks and -(-big.stat().st_size // result.total_chunks)
            print(f"round {round_ + 1}: baseline XML PUT {base_times['xml'][-1]:.2f}s, JSON POST "
                  f"{base_times['json'][-1]:.2f}s; ours {ours_times[-1]:.2f}s, ratio "
                  f"{ours_times[-1] / base_times['xml'][-1]:.2f} [{result.total_chunks} chunks of "
                  f"{size / MIB:.0f} MiB, {args.parallel} in flight, chunk MD5s {args.chunk_checksums}: "
                  + ", ".join(f"{k} {result.timings[k]:.2f}s" for k in CLIENT_PHASES if k in result.timings)
                  + f"; in complete: compose {facts.get('composeCalls')} calls (per level "
                  f"{facts.get('composeLevels')}) {facts.get('composeSeconds')}s, source copy "
                  f"{facts.get('sourceCopySeconds')}s, chunk deletes {facts.get('cleanupSeconds')}s]; fake-gcs-server "
                  f"peak RSS {base_rss[-1]} MiB (baseline) / {ours_rss[-1]} MiB (ours); storage floor "
                  f"{floors[-1]['total']:.2f}s (chunks {floors[-1]['chunks']:.2f}s, compose "
                  f"{floors[-1]['compose']:.2f}s, copy {floors[-1]['copy']:.2f}s)", flush=True)
        ours = statistics.median(ours_times)
        print(f"\n{args.size_mib} MiB, median of {args.rounds} interleaved round(s):")
        for api, label in (("xml", "one XML PUT"), ("json", "one JSON media POST")):
            base = statistics.median(base_times[api])
            print(f"  vs {label} straight to fake-gcs-server: baseline {base:.2f}s ({args.size_mib / base:.0f} MiB/s), "
                  f"ours {ours:.2f}s ({args.size_mib / ours:.0f} MiB/s), ratio {ours / base:.2f} (target < 1.25)")
        floor = {key: statistics.median(f[key] for f in floors) for key in floors[0]}
        base = statistics.median(base_times["xml"])
        print(f"  storage floor (same chunks straight to fake-gcs-server, one compose, one copy; median): "
              f"{floor['total']:.2f}s = chunks {floor['chunks']:.2f}s + compose {floor['compose']:.2f}s + copy "
              f"{floor['copy']:.2f}s; floor / baseline {floor['total'] / base:.2f} (chunks + compose alone "
              f"{(floor['chunks'] + floor['compose']) / base:.2f}); ours / floor {ours / floor['total']:.2f}")
        print("  ours, per phase (median): " + ", ".join(
            f"{key} {statistics.median(phases[key]):.2f}s" for key in CLIENT_PHASES if any(phases[key])))
        print("  inside complete (median): " + ", ".join(
            f"{label} {statistics.median(phases[key]):.2f}s" for key, label in SERVER_PHASES))
        print(f"  fake-gcs-server peak RSS (median): baseline {statistics.median(base_rss):.0f} MiB, "
              f"ours {statistics.median(ours_rss):.0f} MiB")
        big.unlink()

        chunk = 256 * 1024
        pids = worker_pids(cfg)
        for run_ in () if args.skip_410 else (1, 2):  # the second run shows the steady state (modules imported, clients made)
            small = work / f"episode-410-{run_}.mp4"
            make_file(small, 410 * chunk - 1000, seed=410 + run_)
            uploader = Uploader(UploadApi(cfg.gateway_url, token), parallel=args.parallel, chunk_size=chunk,
                                final_algorithm="md5", state_dir=work / "state", show_progress=False)
            before: dict[int, int] = {}
            cleared: list[bool] = []

            def arm(_index: int, before: dict[int, int] = before, cleared: list[bool] = cleared) -> None:
                """On the first stored chunk (after start) the functions are idle until complete: reset peaks."""
                if not before:
                    before.update({pid: status_kib(pid, "VmRSS") for pid in pids})
                    cleared.extend(reset_peak(pid) for pid in pids)

            result = uploader.upload(small, {"title": "410 chunks", "series": "Bench", "episode": 900 + run_},
                                     on_chunk=arm)
            peaks = {pid: status_kib(pid, "VmHWM") for pid in pids}
            facts = last_completed_log(cfg, result.upload_id)
            print(f"410 chunks of 256 KiB ({small.stat().st_size / MIB:.1f} MiB), finalChecksum hex MD5, run {run_}: "
                  f"complete {result.timings['complete']:.2f}s wall; compose calls {facts.get('composeCalls')} "
                  f"(per level {facts.get('composeLevels')}) {facts.get('composeSeconds')}s, MD5 streaming read "
                  f"{facts.get('verifySeconds')}s, source copy {facts.get('sourceCopySeconds')}s, chunk cleanup "
                  f"{facts.get('cleanupSeconds')}s")
            for pid in pids:
                note = "" if cleared and all(cleared) else " (peak since the worker started: clear_refs refused)"
                print(f"  function worker {pid}: RSS {before[pid] / 1024:.0f} MiB before complete, peak "
                      f"{peaks[pid] / 1024:.0f} MiB during it (+{(peaks[pid] - before[pid]) / 1024:.0f} MiB){note}")
    finally:
        for leftover in sorted(work.rglob("*"), reverse=True):
            leftover.rmdir() if leftover.is_dir() else leftover.unlink()
        work.rmdir()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--chunk-mib", type=int,
                        help="chunk size of our upload (default: the uploader's, at most 32 chunks of 5-64 MiB; "
                        "5 is the spec's)")
    parser.add_argument("--chunk-checksums", choices=CHUNK_CHECKSUMS, default="header",
                        help="per-chunk MD5s: computed while sending (header, default), declared at start after a "
                        "pass over the file (bound), none (off)")
    parser.add_argument("--skip-410", action="store_true", help="only the 1 GiB comparison")
    parser.add_argument("--stack", type=Path, help="state dir of a running local cloud to use instead of a new one")
    args = parser.parse_args()
    on_local_cloud(lambda cfg: run(cfg, args), args.stack)

if __name__ == "__main__":
    main()
