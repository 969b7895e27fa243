"""Load bench: the viewer's request path at 200 concurrent clients, against the necessary work, behind one gateway.

    .venv/bin/python bench/bench_load.py [--clients 200] [--seconds 20] [--rounds 3] [--profile DIR]
                                         [--mix search-ko,video,...] [--per-kind SECONDS] [--strict-baseline]

Starts its own local cloud on free ports (no Transcoder), seeds one ready video (its catalogue entry through the
metadata endpoint, a small HLS master in the media bucket) and a viewer, then runs rounds of ``--seconds`` in which
``--clients`` concurrent clients (one aiohttp session, one task each, back to back) send the viewer mix:

    search in Korean (q=별빛), search in English (q=starlight), GET /api/videos/{id}, GET /api/stream/{id} (the HLS
    master) and POST /auth/validate (X-Original-URI: the video's URL)

alternately to ours (the stack's gateway, the functions host) and to the *necessary work*: a bare
functions-framework function that verifies the same ID token with firebase-admin (signature and claims; the Auth
emulator's tokens are unsigned, so locally both sides check claims only) and does one Firestore document get,
served the same way (gunicorn, the same workers, threads and flags) behind a second gateway process of the same
code (``local_emulator.gateway``), so the same paths reach it. The bare function gets its document with
``DocumentReference.get()`` (a BatchGetDocuments stream); ``--strict-baseline`` makes it get it as kstream does
(unary GetDocument on kstream's Firestore channel, decision 0011), the cheapest way this client knows. Rounds alternate (ours first in even rounds, bare
first in odd ones) so machine noise hits both alike; a short warm-up round of each comes first and is not counted.

Prints, per round and overall: requests per second, p50/p95/p99 latency and errors (any answer but 200, or a
connection error), and the throughput ratio ours / bare (median of the rounds, and its spread). Goals
(issue 14): ratio >= 0.7, p99 <= 1.0 s at 200 clients, zero errors.

``--profile DIR`` adds one round of each after the measured ones with py-spy attached to the gunicorn workers
(``py-spy record --subprocesses --gil``: samples of threads holding the GIL, i.e. running Python), writes the collapsed stacks and a speedscope file to DIR
and prints where the functions' CPU went by concern (token verification, Firestore client, pydantic, JSON,
logging, the search planner, ...). Profiled rounds are not part of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

BARE_SOURCE = '''"""The necessary work of a viewer request: verify the caller's ID token, get one Firestore document."""
import os

import firebase_admin
import flask
from firebase_admin import auth
from google.cloud import firestore

PROJECT = os.environ["KSTREAM_PROJECT_ID"]
VIDEO = os.environ["BENCH_VIDEO_ID"]
STRICT = os.environ.get("BENCH_BARE_STRICT") == "1"
app = firebase_admin.initialize_app(options={"projectId": PROJECT})
if STRICT:  # the get done as kstream does it: unary GetDocument on kstream's channel
    from kstream.adapters.firestore import Client

    db = Client(project=PROJECT)
    NAME = f"{db._database_string}/documents/videos/{VIDEO}"
else:
    db = firestore.Client(project=PROJECT)


def title():
    if STRICT:
        found = db._firestore_api.get_document(request={"name": NAME}, metadata=db._rpc_metadata)
        return found.fields["title"].string_value
    return db.collection("videos").document(VIDEO).get().get("title")


def bare(request):
    token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    try:
        claims = auth.verify_id_token(token, app=app)  # signature (cached certificates) and claims
    except (auth.InvalidIdTokenError, ValueError) as exc:
        return flask.jsonify({"error": str(exc)}), 401
    return flask.jsonify({"uid": claims["uid"], "id": VIDEO, "title": title()})
'''

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio"
video-360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2800000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"
video-720p.m3u8
"""

# Where the functions' CPU goes, by concern: the first pattern (in this order) found in a sample's stack, read from
# the leaf up, names its concern. Patterns match py-spy's "function (file:line)" frames.
CONCERNS: list[tuple[str, str]] = [
    ("logging (structured request line)", r"kstream/observability\.py"),
    ("token verification (firebase-admin, google-auth, JWT)", r"firebase_admin/|google/auth/|/jwt/|cachecontrol"),
    ("Firestore client (gRPC, protobuf, proto-plus)", r"google/cloud/firestore|google/api_core|grpc|proto/|"
                                                      r"google/protobuf"),
    ("pydantic models (validate, dump)", r"pydantic"),
    ("JSON (encode, decode)", r"/json/"),
    ("settings", r"kstream/settings\.py"),
    ("search planner and catalogue (kstream.catalog)", r"kstream/catalog/"),
    ("streaming (manifests, signing)", r"kstream/streaming/|kstream/cdn_signing"),
    ("kstream wrapper and auth (http.py, auth.py)", r"kstream/http\.py|kstream/auth\.py|kstream/registry"),
    ("HTTP server (gunicorn, werkzeug, flask, functions-framework)", r"gunicorn|werkzeug|flask|functions_framework"),
]

MIX = ["search-ko", "search-en", "video", "stream", "validate"]


@dataclass
class Round:
    target: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    by_kind: dict[str, list[float]] = field(default_factory=dict)  # the same latencies, by request kind
    samples: list[str] = field(default_factory=list)  # the first answer of each kind of error

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def summary(self) -> dict[str, float]:
        return {"rps": self.throughput, **percentiles(self.latencies), "errors": sum(self.errors.values())}


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


# -- the load --------------------------------------------------------------------------------------------------------
async def run_round(target: str, base_url: str, token: str, video_id: str, clients: int, seconds: float,
                    mix: list[str] = MIX) -> Round:
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"}
    requests = {
        "search-ko": ("GET", "/api/metadata/videos/search", {"q": "별빛"}, {}),
        "search-en": ("GET", "/api/metadata/videos/search", {"q": "starlight"}, {}),
        "video": ("GET", f"/api/videos/{video_id}", None, {}),
        "stream": ("GET", f"/api/stream/{video_id}", None, {}),
        "validate": ("POST", "/auth/validate", None,
                     {"X-Original-URI": f"/api/v1/videos/{video_id}", "X-Original-Method": "GET"}),
    }
    result = Round(target, seconds)
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout, headers=headers) as session:
        deadline = time.perf_counter() + seconds

        async def client(number: int) -> None:
            turn = number
            while time.perf_counter() < deadline:
                kind = mix[turn % len(mix)]
                method, path, params, extra = requests[kind]
                turn += 1
                started = time.perf_counter()
                try:
                    async with session.request(method, path, params=params, headers=extra) as response:
                        body = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    result.errors[f"{kind} {type(exc).__name__}"] += 1
                    continue
                if status != 200:
                    key = error_kind(kind, status, body)
                    if not result.errors[key]:
                        result.samples.append(f"{key}: {body[:200]!r}")
                    result.errors[key] += 1
                    continue
                took = time.perf_counter() - started
                result.latencies.append(took)
                result.by_kind.setdefault(kind, []).append(took)

        began = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        result.seconds = time.perf_counter() - began  # the last requests end after the deadline
    return result


_CAUSE = re.compile(r"\((\w+(?:Error|Exception|Timeout)\w*)\)\s*$")


def error_kind(kind: str, status: int, body: bytes) -> str:
    """What an error answer is, for counting: request kind, status, the envelope's code and, for the gateway's
    "... is not answering (ServerDisconnectedError)", the upstream cause: e.g.
    ``validate 503 SYSTEM_UNAVAILABLE ServerDisconnectedError``."""
    try:
        error = json.loads(body)["error"]
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{kind} {status} (not an envelope)"
    cause = _CAUSE.search(message)
    return " ".join(part for part in (kind, str(status), code, cause.group(1) if cause else "") if part)


def round_in_child(target: str, base_url: str, token: str, video_id: str, clients: int, seconds: float,
                   mix: list[str]) -> Round:
    """:func:`run_round` in a process of its own: the local cloud's supervisor (this process) reads every log line
    of the functions, and must not share a GIL with the clients."""
    job = {"target": target, "base_url": base_url, "token": token, "video_id": video_id, "clients": clients,
           "seconds": seconds, "mix": mix}
    done = subprocess.run([sys.executable, __file__, "--client-round", json.dumps(job)], capture_output=True,
                          text=True, check=True, timeout=seconds + 180)
    raw = json.loads(done.stdout)
    return Round(target, raw["seconds"], raw["latencies"], Counter(raw["errors"]), samples=raw["samples"],
                 by_kind=raw["by_kind"])


def client_round(job_text: str) -> None:
    job = json.loads(job_text)
    result = asyncio.run(run_round(job["target"], job["base_url"], job["token"], job["video_id"], job["clients"],
                                   job["seconds"], job["mix"]))
    print(json.dumps({"seconds": result.seconds, "latencies": result.latencies, "errors": dict(result.errors),
                      "samples": result.samples, "by_kind": result.by_kind}))


# -- the stack and the bare function ----------------------------------------------------------------------------------
def seed(cfg: Any) -> tuple[str, str]:
    """One ready video (catalogue entry through the metadata endpoint, an HLS master in the media bucket) and a
    viewer's token."""
    import requests
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from local_emulator import tokens

    video_id = "bench-load-1"
    body = {"videoId": video_id, "title": "별빛 정원 1화 (Starlight Garden)", "series": "별빛 정원 (Starlight Garden)",
            "episode": 1, "description": "starlight garden 별빛 정원", "duration": 2700.0, "fileSize": 1_000_000,
            "uploaderId": "bench-uploader", "uploaderUsername": "bench", "availableQualities": ["360p", "720p"],
            "thumbnailUrl": "", "streamingUrls": {"hls": ""}, "tags": ["로맨스"], "language": "ko"}
    answer = requests.post(f"{cfg.gateway_url}/api/metadata/videos", json=body, timeout=60,
                           headers={"Authorization": f"Bearer {tokens.service_token(cfg)}"})
    if answer.status_code not in (200, 201):
        raise SystemExit(f"seeding the video failed: {answer.status_code} {answer.text[:300]}")
    bucket = storage.Client(project=cfg.project_id, credentials=AnonymousCredentials()).bucket(cfg.media_bucket)
    bucket.blob(f"videos/{video_id}/manifest.m3u8").upload_from_string(MASTER,
                                                                       content_type="application/vnd.apple.mpegurl")
    return video_id, tokens.user_token(cfg, "user", "bench-viewer@kstream.local")


def start_bare(cfg: Any, state: Path, video_id: str, log: Any, *, strict: bool = False
               ) -> tuple[subprocess.Popen[bytes], Any]:
    """The bare function under gunicorn as the functions host runs (local_emulator/stack.py), and a second gateway
    whose function host is the bare function, so the same paths reach it through the same gateway code."""
    from local_emulator.processes import free_port, http_ok
    from local_emulator.stack import StackConfig

    bare_dir = state / "bare"
    bare_dir.mkdir()
    (bare_dir / "main.py").write_text(BARE_SOURCE)
    for name in ("signing-key.json", "cdn-key.txt"):
        shutil.copy(Path(cfg.state_dir) / name, bare_dir / name)
    bare_cfg = StackConfig(**{**asdict(cfg), "state_dir": str(bare_dir), "functions_port": free_port(),
                              "gateway_port": free_port(), "storage_port": free_port()})
    bare_cfg.write()
    env = {**os.environ, **cfg.function_env(), "BENCH_VIDEO_ID": video_id, "PYTHONUNBUFFERED": "1",
           "BENCH_BARE_STRICT": "1" if strict else "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "functions")])}
    bare_app = f"functions_framework:create_app(target='bare', source='{bare_dir / 'main.py'}', signature_type='http')"
    processes = [
        subprocess.Popen([*gunicorn_argv(bare_cfg.functions_port, cfg.function_workers), bare_app],
                         cwd=str(bare_dir), env=env, stdout=log, stderr=log),
        subprocess.Popen([sys.executable, "-m", "local_emulator.gateway", "--state-dir", str(bare_dir)], cwd=str(REPO),
                         env={**env, "AIOHTTP_NO_EXTENSIONS": "1"}, stdout=log, stderr=log),
    ]
    deadline = time.monotonic() + 60
    while not (http_ok(f"{bare_cfg.gateway_url}/_emulator/healthz") and http_ok(bare_cfg.functions_url)):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            raise SystemExit(f"the bare function or its gateway did not start: see {state}/stack.log")
        time.sleep(0.2)
    return processes[0], (processes, bare_cfg)


def gunicorn_argv(port: int, workers: int) -> list[str]:
    """The functions host's gunicorn command line (local_emulator/stack.py), without its app."""
    return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "16", "--timeout", "600", "--no-control-socket",
            "--log-level", "warning", "--limit-request-line", "0", "--limit-request-field_size", str(128 * 1024)]


# -- CPU by process -----------------------------------------------------------------------------------------------
def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each named process and its descendants that are not named
    themselves (Linux /proc)."""
    tree, ticks = _children(), os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for name, root in roots.items():
        total, kernel, stack = 0.0, 0.0, [root]
        while stack:
            pid = stack.pop()
            if pid != root and pid in roots.values():
                continue  # another entry's process (the services are children of this one)
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
                kernel += int(fields[12]) / ticks
            except (OSError, IndexError, ValueError):
                pass
            stack.extend(tree.get(pid, []))
        used[name] = total
        used[name + KERNEL] = kernel
    return used


KERNEL = " (of which kernel)"
"""Suffix of the system-time part of a process's CPU: shown beside it, not added to the total."""


# -- profile ----------------------------------------------------------------------------------------------------------
def profile_round(pid: int, out: Path, label: str, seconds: float, load: Callable[[], object]) -> Path:
    """Run ``load()`` with py-spy recording ``pid`` and its children; the collapsed stacks."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not py_spy:
        raise SystemExit("py-spy is not installed (requirements.txt pins it): .venv/bin/pip install py-spy")
    out.mkdir(parents=True, exist_ok=True)
    collapsed = out / f"{label}.collapsed.txt"
    common = ["--pid", str(pid), "--subprocesses", "--gil", "--rate", "250", "--duration", str(int(seconds))]
    recorders = [
        subprocess.Popen([py_spy, "record", *common, "--format", "raw", "-o", str(collapsed)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    time.sleep(1.0)  # py-spy attaches to every worker before the load starts
    load()
    for recorder in recorders:
        recorder.wait(timeout=120)
    return collapsed


def concerns(collapsed: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Samples, samples per concern (see CONCERNS), and the top leaf frames of kstream's own code and libraries."""
    total = 0
    by_concern: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    compiled = [(name, re.compile(pattern)) for name, pattern in CONCERNS]
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        for frame in reversed(frames):
            found = next((name for name, pattern in compiled if pattern.search(frame)), None)
            if found:
                by_concern[found] += count
                break
        else:
            by_concern["other (interpreter, threads, imports)"] += count
        leaves[_short(frames[-1])] += count
    return total, by_concern, leaves


def _short(frame: str) -> str:
    return re.sub(r"\(.*?(site-packages/|functions/)", "(", frame)


def print_profile(label: str, collapsed: Path, requests_done: int) -> None:
    total, by_concern, leaves = concerns(collapsed)
    print(f"\n## Profile: {label} ({total} GIL-holding samples at 250 Hz over the workers, {requests_done} requests, "
          f"~{total / 250 / max(requests_done, 1) * 1000:.2f} ms CPU per request)")
    print("| concern | share of samples | ms CPU per request |")
    print("|---|---|---|")
    for name, count in by_concern.most_common():
        print(f"| {name} | {count / total:.0%} | {count / 250 / max(requests_done, 1) * 1000:.2f} |")
    print("top leaf frames: " + "; ".join(f"{frame} {count / total:.0%}" for frame, count in leaves.most_common(8)))


# -- main -------------------------------------------------------------------------------------------------------------
def print_round(number: str, result: Round) -> None:
    s = result.summary()
    errors = ", ".join(f"{k}: {v}" for k, v in result.errors.most_common(4)) or "0"
    print(f"| {number} | {result.target} | {len(result.latencies)} | {s['rps']:.0f} | {s['p50'] * 1000:.0f} | "
          f"{s['p95'] * 1000:.0f} | {s['p99'] * 1000:.0f} | {errors} |", flush=True)
    for sample in result.samples:
        print(f"  first {sample}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients (default 200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each round (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds of each target (default 3)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of the uncounted first round of each")
    parser.add_argument("--profile", type=Path, help="also profile one round of each with py-spy, files here")
    parser.add_argument("--workers", type=int, help="gunicorn workers of both (default: the stack's, 2)")
    parser.add_argument("--mix", default=",".join(MIX),
                        help=f"comma-separated request kinds each client cycles through (default: all of {', '.join(MIX)})")
    parser.add_argument("--per-kind", type=float, default=0.0,
                        help="also run each request kind alone for this many seconds against both (0: no)")
    parser.add_argument("--strict-baseline", action="store_true",
                        help="the bare function gets its document as kstream does (unary GetDocument on kstream's "
                             "Firestore channel) instead of DocumentReference.get()")
    parser.add_argument("--client-round", help=argparse.SUPPRESS)  # internal: one round's clients (JSON job)
    args = parser.parse_args()
    if args.client_round:
        return client_round(args.client_round)
    mix = [kind.strip() for kind in args.mix.split(",") if kind.strip()]
    unknown = sorted(set(mix) - set(MIX))
    if unknown or not mix:
        parser.error(f"--mix takes kinds from {', '.join(MIX)}; unknown: {', '.join(unknown) or 'none given'}")

    from local_emulator.stack import LocalCloud, StackConfig

    state = Path(tempfile.mkdtemp(prefix="bench-load-"))
    overrides: dict[str, Any] = {"with_transcoder": False}
    if args.workers:
        overrides["function_workers"] = args.workers
    cfg = StackConfig.ephemeral(state, **overrides)
    log = (state / "stack.log").open("w")
    cloud = LocalCloud(cfg, log=log, colour=False)
    bare: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        cloud.start()
        os.environ.update({k: v for k, v in cfg.emulator_env().items() if k != "FIREBASE_AUTH_EMULATOR_HOST"})
        video_id, token = seed(cfg)
        bare_host, (bare, bare_cfg) = start_bare(cfg, state, video_id, log, strict=args.strict_baseline)
        print(f"local cloud and bare function up in {time.perf_counter() - started:.0f} s (state {state}); "
              f"{args.clients} clients, rounds of {args.seconds:.0f} s, mix: {', '.join(mix)}; baseline get: "
              f"{'unary GetDocument (strict)' if args.strict_baseline else 'DocumentReference.get()'}", flush=True)
        targets = {"ours": cfg.gateway_url, "bare": bare_cfg.gateway_url}
        roots = {s.name: s.process.pid for s in cloud.supervisor.services if s.process is not None}
        roots.update({"bare functions": bare_host.pid, "bare gateway": bare[1].pid, "bench (stack supervisor, log pump)": os.getpid()})
        cpu: dict[str, Counter[str]] = {"ours": Counter(), "bare": Counter()}

        def load(target: str, seconds: float, kinds: list[str] = mix) -> Round:
            before = cpu_seconds(roots)
            result = round_in_child(target, targets[target], token, video_id, args.clients, seconds, kinds)
            after = cpu_seconds(roots)
            cpu[target].update({name: after[name] - before[name] for name in after})
            cpu[target]["requests"] += len(result.latencies) + sum(result.errors.values())
            return result

        for target in targets:
            warm = load(target, args.warmup)
            if warm.errors:
                print(f"warm-up errors on {target}: {dict(warm.errors)}", flush=True)
        for used in cpu.values():  # the warm-up (ours first: the Firestore emulator's JIT warms up on it) not counted
            used.clear()
        print("| round | target | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|---|---|")
        results: dict[str, list[Round]] = {"ours": [], "bare": []}
        for number in range(args.rounds):
            for target in (("ours", "bare") if number % 2 == 0 else ("bare", "ours")):
                result = load(target, args.seconds)
                results[target].append(result)
                print_round(str(number + 1), result)
        report(results)
        print_cpu(cpu)
        if args.per_kind:
            print(f"\n## Each kind alone ({args.per_kind:.0f} s of each target; ratio = ours / bare throughput)")
            print("| kind | ours req/s | bare req/s | ratio | ours p50 / p99 ms | bare p50 / p99 ms | errors | "
                  "CPU ms/request ours / bare: functions, Firestore, all |")
            print("|---|---|---|---|---|---|---|---|")
            for kind in mix:
                before = {target: Counter(cpu[target]) for target in targets}
                alone = {target: load(target, args.per_kind, [kind]) for target in targets}
                o, b = alone["ours"].summary(), alone["bare"].summary()
                spent = {target: cpu[target] - before[target] for target in targets}
                print(f"| {kind} | {o['rps']:.0f} | {b['rps']:.0f} | {o['rps'] / b['rps']:.2f} | "
                      f"{o['p50'] * 1000:.0f} / {o['p99'] * 1000:.0f} | {b['p50'] * 1000:.0f} / {b['p99'] * 1000:.0f} | "
                      f"{o['errors']:.0f} / {b['errors']:.0f} | {_cpu_cells(spent)} |", flush=True)

        if args.profile:
            functions = next(s for s in cloud.supervisor.services if s.name == "functions")
            assert functions.process is not None
            for label, pid in (("ours", functions.process.pid), ("bare", bare_host.pid)):
                done: list[Round] = []
                collapsed = profile_round(pid, args.profile, label, args.seconds,
                                          lambda label=label, done=done: done.append(load(label, args.seconds)))
                print_profile(label, collapsed, len(done[0].latencies) + sum(done[0].errors.values()))
    finally:
        for process in bare:
            process.terminate()
        for process in bare:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        cloud.stop()
        log.close()


def _cpu_cells(spent: dict[str, Counter[str]]) -> str:
    """CPU ms per request of the functions, the Firestore emulator and the whole stack, ours / bare."""
    def per(target: str, names: tuple[str, ...] | None) -> float:
        used = spent[target]
        total = sum(v for n, v in used.items() if n != "requests" and not n.endswith(KERNEL)
                    and (names is None or n in names))
        return total / max(used["requests"], 1) * 1000

    return ", ".join(f"{per('ours', names):.2f} / {per('bare', names):.2f}"
                     for names in (("functions", "bare functions"), ("firestore",), None))


def print_cpu(cpu: dict[str, Counter[str]]) -> None:
    """CPU milliseconds per request of each process of the stack, over all measured rounds of a target."""
    print("\n## CPU per request by process (ms; all measured rounds of each target, warm-up excluded)")
    names = sorted({n for used in cpu.values() for n in used if n != "requests"})
    print("| process | ours | bare |")
    print("|---|---|---|")
    for name in names:
        cells = [f"{cpu[t][name] / max(cpu[t]['requests'], 1) * 1000:.2f}" for t in ("ours", "bare")]
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    totals = [sum(v for n, v in cpu[t].items() if n != "requests" and not n.endswith(KERNEL))
              / max(cpu[t]["requests"], 1) * 1000
              for t in ("ours", "bare")]
    print(f"| all | {totals[0]:.2f} | {totals[1]:.2f} |")


def report(results: dict[str, list[Round]]) -> None:
    ours, bare = results["ours"], results["bare"]
    ratios = [o.throughput / b.throughput for o, b in zip(ours, bare, strict=True)]
    print("\n## Summary")
    print("| target | req/s median (min-max) | p50 ms | p95 ms | p99 ms | errors |")
    print("|---|---|---|---|---|---|")
    for name, rounds in results.items():
        rates = [r.throughput for r in rounds]
        pooled = percentiles([x for r in rounds for x in r.latencies])
        errors = sum(sum(r.errors.values()) for r in rounds)
        print(f"| {name} | {statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f}) | "
              f"{pooled['p50'] * 1000:.0f} | {pooled['p95'] * 1000:.0f} | {pooled['p99'] * 1000:.0f} | {errors} |")
    print("\n| kind (in the mix) | ours p50 / p95 / p99 ms | bare p50 / p95 / p99 ms |")
    print("|---|---|---|")
    for kind in dict.fromkeys(k for r in ours + bare for k in r.by_kind):
        cells = []
        for rounds in (ours, bare):
            pooled = percentiles([x for r in rounds for x in r.by_kind.get(kind, [])])
            cells.append(" / ".join(f"{pooled[p] * 1000:.0f}" for p in ("p50", "p95", "p99")))
        print(f"| {kind} | {cells[0]} | {cells[1]} |")
    for name, rounds in results.items():
        kinds = sum((r.errors for r in rounds), Counter())
        if kinds:
            print(f"errors of {name} by kind: " + ", ".join(f"{k}: {v}" for k, v in kinds.most_common()))
    print(f"throughput ratio ours / bare: {statistics.median(ratios):.2f} (rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); goals: >= 0.7, ours p99 <= 1000 ms, 0 errors")
    print(json.dumps({"ratio_median": statistics.median(ratios), "ratios": ratios,
                      "ours": [r.summary() for r in ours], "bare": [r.summary() for r in bare],
                      "errors": {name: dict(sum((r.errors for r in rounds), Counter())) for name, rounds in
                                 results.items()}}))


if __name__ == "__main__":
    main()
