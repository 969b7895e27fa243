"""Catalog bench: Firestore reads per search page at two catalogue sizes, and get/search latency through the gateway
against a bare functions-framework function doing the same Firestore read, side by side.

    .venv/bin/python bench/bench_catalog.py [--small 1000] [--large 20000] [--requests 400] [--clients 16]

Starts its own local cloud on free ports (like the tests), seeds the Firestore emulator with a synthetic K-drama
catalogue in batched writes of 500, then:

1. reads: runs a fixed set of searches in-process through the real search module and repository, whose ReadMeter counts
   the documents Firestore would bill (documents returned or skipped, and count() batches), at ``--small`` and again
   at ``--large`` videos: page 1, and page 2 through its nextPageToken;
2. latency: ``--clients`` concurrent clients send GET /api/videos/{id} and a search through the gateway (token
   check, routing, our function) and the same request shapes straight to a bare functions-framework function that
   does one Firestore read (a document get; the search's one main query), rounds alternating so that machine noise
   hits both alike; prints p50/p99 and the ratio ours / bare.

The emulator evaluates queries without indexes (it scans), so absolute search latencies say little about Firestore;
the ratio and the read counts are the figures that carry over.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

# -- the bare function: its own source file, served by functions-framework's create_app under gunicorn -------------
BARE_SOURCE = '''"""A bare functions-framework function: one Firestore read, a JSON answer."""
import os

import flask
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

db = None


def bare(request):
    """?id= gets a video; ?seriesKey= or ?q= runs the one main query our search runs for that parameter."""
    global db
    if db is None:
        db = firestore.Client(project=os.environ["KSTREAM_PROJECT_ID"])
    if "id" in request.args:
        snapshot = db.collection("videos").document(request.args["id"]).get()
        if not snapshot.exists:
            return flask.jsonify({"error": "not found"}), 404
        data = snapshot.to_dict()
        return flask.jsonify({"id": snapshot.id, **{k: data[k] for k in ("title", "series", "episode", "status")}})
    limit = int(request.args.get("limit", "20"))
    query = db.collection("videos").where(filter=FieldFilter("status", "==", "ready"))
    if "seriesKey" in request.args:
        query = query.where(filter=FieldFilter("seriesKey", "==", request.args["seriesKey"])).limit(limit + 1)
    else:
        query = query.where(filter=FieldFilter("searchTokens", "array_contains", request.args.get("q", "")))
        query = query.limit(3 * limit + 1)
    query = query.order_by("titleSort")
    return flask.jsonify({"videos": [{"id": s.id, "title": s.get("title")} for s in query.get()]})
'''


# -- catalogue ---------------------------------------------------------------------------------------------------
HANGUL = ["사랑", "불시착", "도깨비", "비밀", "숲", "별", "그대", "태양", "후예", "호텔", "델루나", "이태원", "클라쓰",
          "킹덤", "시그널", "응답하라", "미생", "나의", "아저씨", "스토브리그", "빈센조", "오징어", "게임", "눈물",
          "여왕", "갯마을", "차차차", "무빙", "더", "글로리", "우리들의", "블루스", "검사", "의사", "생활"]
LATIN = ["crash", "landing", "love", "goblin", "secret", "forest", "star", "sun", "descendants", "hotel", "luna",
         "itaewon", "class", "kingdom", "signal", "reply", "misaeng", "my", "mister", "stove", "league", "vincenzo",
         "squid", "game", "queen", "tears", "hometown", "moving", "glory", "blues", "prosecutor", "doctor", "life"]
TAGS = ["로맨스", "코미디", "스릴러", "판타지", "사극", "의학", "법정", "romance", "comedy", "thriller", "fantasy"]
PARTICLES = ["의", "이", "는", "를", ""]


def _series_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        words = [rng.choice(HANGUL) + rng.choice(PARTICLES) for _ in range(rng.randint(1, 3))]
        english = " ".join(rng.choice(LATIN).title() for _ in range(rng.randint(1, 3)))
        names.add(" ".join(words) if rng.random() < 0.6 else f"{' '.join(words)} ({english})")
    return sorted(names)


def catalogue(start: int, stop: int, seed: int = 7) -> list[dict[str, Any]]:
    """Videos ``start``..``stop`` of a deterministic synthetic catalogue (16 episodes a series)."""
    from kstream.catalog.documents import video_document

    from contracts.metadata import CreateVideoMetadataRequest

    rng = random.Random(seed)
    series = _series_names(rng, 2000)
    origin = datetime(2024, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(start, stop):
        r = random.Random(seed * 1_000_003 + i)
        name = series[(i // 16) % len(series)]
        episode = i % 16 + 1
        words = [r.choice(HANGUL + LATIN) for _ in range(r.randint(6, 14))]
        body = {
            "videoId": f"b{i:06d}", "title": f"{name} {episode}화" if r.random() < 0.7 else f"{name} - Episode {episode}",
            "series": name, "episode": episode, "description": " ".join(words), "duration": 3600 + r.random() * 600,
            "fileSize": r.randint(500_000_000, 2_000_000_000), "uploaderId": f"uploader-{i % 50}",
            "uploaderUsername": f"Uploader {i % 50}", "availableQualities": ["360p", "720p", "1080p"],
            "thumbnailUrl": f"/media/b{i:06d}/thumb.jpg", "streamingUrls": {"hls": f"/media/b{i:06d}/master.m3u8"},
            "tags": r.sample(TAGS, r.randint(1, 3)), "language": r.choices(["ko", "en", "ja"], [85, 10, 5])[0],
        }
        status = r.choices(["ready", "processing", "failed"], [90, 7, 3])[0]
        docs.append(video_document(CreateVideoMetadataRequest.model_validate(body), status=status,
                                   upload_date=origin + timedelta(minutes=i)))
    return docs


# -- reads ---------------------------------------------------------------------------------------------------------
SEARCHES: list[tuple[str, str, dict[str, Any]]] = [
    ("browse, default sort", "viewer", {}),
    ("q=사랑 (Hangul bigram)", "viewer", {"q": "사랑"}),
    ("q=crash (Latin word)", "viewer", {"q": "crash"}),
    ("q=사랑의 불시착 (two words)", "viewer", {"q": "사랑의 불시착"}),
    ("series=<one series>", "viewer", {"series": "@series"}),
    ("tags=로맨스&language=en", "viewer", {"tags": "로맨스", "language": "en"}),
    ("q=사랑&tags=코미디", "viewer", {"q": "사랑", "tags": "코미디"}),
    ("uploader's view, q=사랑", "uploader", {"q": "사랑"}),
    ("admin, sort=series desc", "admin", {"sort": "series", "order": "desc"}),
]


def measure_reads(db: Any, series_name: str, limit: int) -> dict[str, tuple[dict[str, int], dict[str, int], int,
                                                                               bool]]:
    from kstream.catalog.repository import CatalogRepository, ReadMeter
    from kstream.catalog.search import search
    from kstream.catalog.visibility import Viewer

    from contracts.metadata import SearchVideosQuery

    out = {}
    for label, scope, raw in SEARCHES:
        params = {k: (series_name if v == "@series" else v) for k, v in raw.items()}
        viewer = Viewer("uploader-3", scope)  # type: ignore[arg-type]
        first = CatalogRepository(db, ReadMeter(), timeout_seconds=1800)  # the emulator scans: be patient
        page1 = search(first, viewer, SearchVideosQuery(**params, limit=limit))
        second = CatalogRepository(db, ReadMeter(), timeout_seconds=1800)
        if page1.nextPageToken:
            search(second, viewer, SearchVideosQuery(**params, limit=limit, pageToken=page1.nextPageToken))
        out[label] = (first.meter.as_dict(), second.meter.as_dict(), page1.total, page1.totalExact)
    return out


# -- latency -------------------------------------------------------------------------------------------------------
def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _load(clients: int, requests_total: int, call: Callable[[int], int]) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def one(i: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        status = call(i)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            if status != 200:
                errors += 1

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests_total)))
    return latencies, errors


def _sessions(clients: int, token: str | None) -> Callable[[], Any]:
    import requests

    local = threading.local()

    def session() -> Any:
        if not hasattr(local, "s"):
            local.s = requests.Session()
            if token:
                local.s.headers["Authorization"] = f"Bearer {token}"
        return local.s

    return session


Rounds = dict[str, list[tuple[list[float], int]]]
"""Per target, per round: latency samples and errors."""


def measure_latency(cfg: Any, bare_proc: Any, bare_port: int, args: argparse.Namespace, *, text: bool
                    ) -> tuple[Rounds, dict[str, Callable[[int], int]]]:
    """Latency samples per target, in alternating rounds: ours through the gateway (gets also straight to the
    functions host) and the bare function doing the same one read."""
    from kstream.catalog.search_text import series_key

    from local_emulator import tokens
    from local_emulator.processes import http_ok

    bare_url = f"http://127.0.0.1:{bare_port}"
    deadline = time.monotonic() + 30
    while not http_ok(f"{bare_url}/?id=b000000") and time.monotonic() < deadline:
        time.sleep(0.2)
    if bare_proc.poll() is not None:
        raise SystemExit(f"the bare function did not start: see {cfg.state_dir}/stack.log")
    token = tokens.user_token(cfg, "user")
    ready_ids = [d["id"] for d in catalogue(0, min(args.small, 2000)) if d["status"] == "ready"]
    ours, plain = _sessions(args.clients, token), _sessions(args.clients, None)
    gw, fn = cfg.gateway_url, cfg.functions_url
    name = catalogue(0, 1)[0]["series"]
    by_series = {"series": name, "limit": args.limit}
    by_text = {"q": "사랑", "limit": args.limit}

    def video(i: int) -> str:
        return ready_ids[i % len(ready_ids)]

    def get(session: Callable[[], Any], url: str, **params: Any) -> int:
        return int(session().get(url, params=params or None, timeout=600).status_code)

    targets: dict[str, tuple[Callable[[int], int], int]] = {
        "get: ours via gateway": (lambda i: get(ours, f"{gw}/api/videos/{video(i)}"), args.requests),
        "get: ours, function direct": (lambda i: get(ours, f"{fn}/video-get/api/videos/{video(i)}"), args.requests),
        "get: bare": (lambda i: get(plain, bare_url, id=video(i)), args.requests),
        "search series= page 1 (one window holds it: no count): ours via gateway": (
            lambda i: get(ours, f"{gw}/api/metadata/videos/search", **by_series), args.search_requests),
        "search series=: bare (one query)": (
            lambda i: get(plain, bare_url, seriesKey=series_key(name), limit=args.limit), args.search_requests),
    }
    if text:
        page2 = ours().get(f"{gw}/api/metadata/videos/search", params=by_text, timeout=600).json()["nextPageToken"]
        targets.update({
            "search q= page 1 (window + count): ours via gateway": (
                lambda i: get(ours, f"{gw}/api/metadata/videos/search", **by_text), args.text_requests),
            "search q= page 2 (token: one query): ours via gateway": (
                lambda i: get(ours, f"{gw}/api/metadata/videos/search", **by_text, pageToken=page2),
                args.text_requests),
            "search q=: bare (one query)": (lambda i: get(plain, bare_url, **by_text), args.text_requests),
        })
    for call, _ in targets.values():  # warm every worker's clients and connections
        _load(args.clients, args.clients, call)
    samples: Rounds = {name: [] for name in targets}
    for _ in range(args.rounds):
        for label, (call, count) in targets.items():
            samples[label].append(_load(args.clients, count, call))
    return samples, {label: call for label, (call, _) in targets.items()}


PAIRS = [
    ("get: ours via gateway", "get: bare"),
    ("get: ours, function direct", "get: bare"),
    ("search series= page 1 (one window holds it: no count): ours via gateway", "search series=: bare (one query)"),
    ("search q= page 1 (window + count): ours via gateway", "search q=: bare (one query)"),
    ("search q= page 2 (token: one query): ours via gateway", "search q=: bare (one query)"),
]


def report_latency(size: int, rounds: Rounds, args: argparse.Namespace) -> None:
    print(f"\n## Latency at {size} videos: {args.clients} concurrent clients, {args.rounds} alternating rounds")
    print("| target | requests | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    for label, per_round in rounds.items():
        got = [s for samples, _ in per_round for s in samples]
        bad = sum(errors for _, errors in per_round)
        print(f"| {label} | {len(got)} | {_percentile(got, 0.5) * 1000:.1f} | {_percentile(got, 0.99) * 1000:.1f} "
              f"| {bad} |")
    print("\n| ratio ours / bare | p50, all rounds | p50 per round: median (min-max) | p99, all rounds |")
    print("|---|---|---|---|")
    for ours_name, bare_name in PAIRS:
        if ours_name in rounds:
            o = [s for samples, _ in rounds[ours_name] for s in samples]
            b = [s for samples, _ in rounds[bare_name] for s in samples]
            each = [statistics.median(x) / statistics.median(y)
                    for (x, _), (y, _) in zip(rounds[ours_name], rounds[bare_name], strict=True)]
            print(f"| {ours_name} / {bare_name} | {statistics.median(o) / statistics.median(b):.2f} | "
                  f"{statistics.median(each):.2f} ({min(each):.2f}-{max(each):.2f}) | "
                  f"{_percentile(o, 0.99) / _percentile(b, 0.99):.2f} |")


# -- profile -------------------------------------------------------------------------------------------------------
PROFILE_CATEGORIES = [  # (category, path fragments of a frame): a sample counts for the innermost frame that matches
    # py-spy names a frame's file relative to its import root: "firestore_v1/_helpers.py", "auth/jwt.py", "kstream/..."
    ("token verification (kstream/auth.py, firebase_admin, jwt, google.auth)",
     ("kstream/auth.py", "kstream/adapters/firebase_auth", "kstream/adapters/service_identity", "firebase_admin/",
      "jwt/", "auth/", "oauth2/", "cachecontrol/", "cryptography/", "rsa/")),
    ("Firestore client (firestore, api_core, grpc, protobuf)",
     ("firestore_v1/", "firestore/", "api_core/", "grpc/", "proto/", "protobuf/")),
    ("pydantic models and JSON", ("pydantic/", "pydantic_core/", "json/", "contracts/")),
    ("settings", ("kstream/settings.py",)),
    ("logging", ("kstream/observability.py", "logging/")),
    ("search: planner, pages, cursors, text", ("kstream/catalog/search", "kstream/catalog/pages",
                                                "kstream/catalog/cursors")),
    ("document -> contract, playback links, signing", ("kstream/catalog/documents", "kstream/streaming/",
                                                         "kstream/cdn_signing")),
    ("catalog: videos, series, repository", ("kstream/catalog/",)),
    ("request wrapper (kstream/http.py, registry, validation)", ("kstream/http.py", "kstream/registry.py",
                                                                 "kstream/validation.py")),
    ("flask, werkzeug, gunicorn, functions-framework", ("flask/", "werkzeug/", "gunicorn/", "functions_framework/")),
]


def _categorize(collapsed: list[Path]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in collapsed:
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            category = "other (threads, stdlib)"
            for frame in reversed(stack.split(";")):
                hit = next((name for name, parts in PROFILE_CATEGORIES if any(p in frame for p in parts)), None)
                if hit:
                    category = hit
                    break
            counts[category] = counts.get(category, 0) + int(n)
    return counts


def profile(cfg: Any, calls: dict[str, Callable[[int], int]], args: argparse.Namespace) -> None:
    """py-spy (``--gil``: only the thread holding the interpreter, i.e. CPU in Python) on the functions host's
    workers while ``--clients`` clients run each of our targets for ``--profile`` seconds; a table of where the
    samples fall."""
    import shutil

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    host = subprocess.run(["pgrep", "-f", "--", f"--bind 127.0.0.1:{cfg.functions_port} "], capture_output=True,
                          text=True).stdout.split()
    workers = [pid for pid in host if subprocess.run(["pgrep", "-P", pid], capture_output=True).returncode != 0]
    print(f"\n## Profile: py-spy --gil on functions-host workers {workers}, {args.profile} s per target")
    for label, call in calls.items():
        if "ours" not in label:
            continue
        slug = "".join(ch if ch.isalnum() else "-" for ch in label)
        out = [Path(cfg.state_dir) / f"profile-{slug}-{pid}.txt" for pid in workers]
        spies = [subprocess.Popen([spy, "record", "--pid", pid, "--duration", str(args.profile), "--rate", "100",
                                   "--gil", "--nonblocking", "--format", "raw", "-o", str(o)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid, o in zip(workers, out, strict=True)]
        deadline = time.monotonic() + args.profile
        served = 0
        while time.monotonic() < deadline:
            _load(args.clients, args.clients * 4, call)
            served += args.clients * 4
        for s in spies:
            s.wait(60)
        counts = _categorize([o for o in out if o.exists()])
        total = sum(counts.values()) or 1
        print(f"\n{label}: {served} requests, {total} samples "
              f"({total / 100 * 1000 / max(served, 1):.2f} ms of Python CPU per request)")
        for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {100 * n / total:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=20000)
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per target per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--search-requests", type=int, default=96, help="series searches per target per round")
    parser.add_argument("--text-requests", type=int, default=32,
                        help="text searches per target per round (the emulator scans token arrays: slow; 0: none)")
    parser.add_argument("--profile", type=int, default=0, metavar="SECONDS",
                        help="after the timed rounds at --small, profile our function with py-spy for this long per "
                             "target and print where its CPU goes")
    parser.add_argument("--text-at-large", action="store_true",
                        help="also time text searches at --large videos (the emulator takes seconds per query)")
    args = parser.parse_args()

    from google.cloud import firestore
    from kstream.catalog.repository import CatalogRepository

    from local_emulator.processes import free_port
    from local_emulator.stack import LocalCloud, StackConfig

    state = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    cfg = StackConfig.ephemeral(state, with_transcoder=False)
    log = (state / "stack.log").open("w")
    cloud = LocalCloud(cfg, log=log, colour=False)
    started = time.perf_counter()
    cloud.start()
    print(f"local cloud up in {time.perf_counter() - started:.0f} s (state {state})")
    os.environ.update({k: v for k, v in cfg.emulator_env().items() if k != "FIREBASE_AUTH_EMULATOR_HOST"})
    bare_port = free_port()
    bare_source = state / "bare_main.py"
    bare_source.write_text(BARE_SOURCE)
    # The same server shape as the functions host (gunicorn, gthread, same workers and threads).
    bare_proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{bare_port}", "--workers", str(cfg.function_workers),
         "--worker-class", "gthread", "--threads", "16", "--no-control-socket", "--log-level", "warning",
         f"functions_framework:create_app(target='bare', source='{bare_source}', signature_type='http')"],
        cwd=str(state), env={**os.environ, **cfg.function_env()}, stdout=log, stderr=log)
    try:
        db = firestore.Client(project=cfg.project_id)
        repo = CatalogRepository(db, timeout_seconds=600)  # a loaded machine's emulator takes its time with batches
        reads: dict[int, Any] = {}
        loaded = 0
        for size in (args.small, args.large):
            t0 = time.perf_counter()
            for chunk in range(loaded, size, 2000):
                repo.put_videos(catalogue(chunk, min(size, chunk + 2000)))
            loaded = size
            print(f"seeded {size} videos ({time.perf_counter() - t0:.0f} s)")
            series_name = catalogue(0, 1)[0]["series"]
            reads[size] = measure_reads(db, series_name, args.limit)
            latencies, calls = measure_latency(cfg, bare_proc, bare_port, args,
                                               text=args.text_requests > 0 and (size == args.small or args.text_at_large))
            report_latency(size, latencies, args)  # printed as soon as measured: a later failure keeps it
            if args.profile and size == args.small:
                profile(cfg, calls, args)

        print(f"\n## Firestore reads per search page (limit {args.limit}); billed = documents + skipped + "
              "count() batches")
        print(f"| search | page 1 at {args.small} | page 1 at {args.large} | page 2 (token) at {args.small} | "
              f"page 2 (token) at {args.large} | total at {args.large} (exact?) |")
        print("|---|---|---|---|---|---|")
        for label, _, _ in SEARCHES:
            s1, s2, _, _ = reads[args.small][label]
            l1, l2, total, exact = reads[args.large][label]

            def cell(m: dict[str, int]) -> str:
                return f"{m['billed']} ({m['documents']} docs + {m['aggregation_reads']} count)"

            print(f"| {label} | {cell(s1)} | {cell(l1)} | {cell(s2)} | {cell(l2)} | {total} "
                  f"({'exact' if exact else 'estimate'}) |")

    finally:
        bare_proc.terminate()
        bare_proc.wait(10)
        cloud.stop()
        log.close()


if __name__ == "__main__":
    main()
