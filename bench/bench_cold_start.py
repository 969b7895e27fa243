"""Cold start: what a function loads before it can answer, against bare functions-framework.

Each sample is a fresh interpreter; the variants of one run alternate, so machine noise hits them alike. Prints
medians (and min-max) and ratios. Run: .venv/bin/python bench/bench_cold_start.py [--runs 15] [--first-answer]

1. import: ``import functions_framework, main`` (every entry point bound) against ``import functions_framework``:
   the figure issue 14 set its bar on (<= 1.5x).
2. where it goes: the same import built up step by step (pydantic, kstream.settings, kstream.http, main), so each
   step's cost is the difference of two medians.
3. ``--first-answer``: per catalog function, what the deployed process loads before its first answer:
   functions-framework's ``create_app(target, main.py)``, one request without a token (a 401 envelope) and then
   the modules a viewer's successful answer imports (its catalog module, the Firestore client, the playback-link
   signer, firebase_admin.auth), against a bare functions-framework function that imports what the necessary work
   needs (``google.cloud.firestore`` and ``firebase_admin.auth``) and answers its first request. No network call.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BARE = "import functions_framework"
OURS = "import functions_framework, main"
STEPS = [
    ("functions_framework", BARE),
    ("+ pydantic (BaseModel: pydantic loads lazily)", "import functions_framework; from pydantic import BaseModel"),
    ("+ kstream.settings (pydantic model)", "import functions_framework, kstream.settings"),
    ("+ kstream.http (contracts, auth, registry, yaml)", "import functions_framework, kstream.http"),
    ("+ main (all entry points bound)", OURS),
]
TARGETS = [  # entry point, a path it serves, what its first successful answer imports beyond a 401
    ("video_get", "/api/videos/abc", "kstream.catalog.videos"),
    ("video_search", "/api/metadata/videos/search?q=x", "kstream.catalog.search"),
    ("series_get", "/api/metadata/series/x", "kstream.catalog.series"),
]
ANSWER_NEEDS = ("kstream.catalog.visibility", "kstream.adapters.firestore", "kstream.streaming.links",
                "firebase_admin.auth")
"""Imported by every catalog answer: a 401 (no token) stops before them, a viewer's first answer does not."""
FIRST_ANSWER = """
import importlib, sys
from functions_framework import create_app
app = create_app(target=sys.argv[1], source=sys.argv[2], signature_type="http")
status = app.test_client().get(sys.argv[3]).status_code
assert status < 500, status
for name in sys.argv[4:]:
    importlib.import_module(name)
"""
BARE_FUNCTION = '''"""A bare function with the imports of the necessary work: a Firestore get and an ID-token check."""
import firebase_admin.auth  # noqa: F401
import flask
from google.cloud import firestore  # noqa: F401


def bare(request):
    return flask.jsonify({"ok": True})
'''


def _sample(args: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one fresh interpreter running ``args`` (``@<checkout>`` first:
    in that checkout of the repository instead of this one)."""
    repo = REPO
    if args and args[0].startswith("@"):
        repo, args = Path(args[0][1:]), args[1:]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "functions")]),
           "KSTREAM_PROJECT_ID": "demo-bench", "KSTREAM_LOG_LEVEL": "ERROR"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=repo / "functions", env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


Samples = dict[str, tuple[list[float], list[float]]]
"""Per variant: wall times and CPU times."""


def _alternate(variants: dict[str, list[str]], runs: int) -> Samples:
    for argv in variants.values():  # warm the file cache
        _sample(argv)
    samples: Samples = {name: ([], []) for name in variants}
    for _ in range(runs):
        for name, argv in variants.items():
            wall, cpu = _sample(argv)
            samples[name][0].append(wall)
            samples[name][1].append(cpu)
    return samples


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:6.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def _table(title: str, samples: Samples) -> None:
    """Medians (min-max) of wall and CPU time, and each variant's ratio to the first. CPU time is the steadier
    figure on a shared machine: other processes stretch the wall clock, much less the CPU a process spends."""
    base_wall, base_cpu = (statistics.median(v) for v in next(iter(samples.values())))
    print(f"\n## {title}")
    print("| variant | wall | CPU | ratio wall | ratio CPU |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in samples.items():
        print(f"| {name} | {_ms(wall)} | {_ms(cpu)} | {statistics.median(wall) / base_wall:.2f} | "
              f"{statistics.median(cpu) / base_cpu:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--first-answer", action="store_true", help="also time create_app + first request")
    parser.add_argument("--baseline", type=Path, metavar="CHECKOUT",
                        help="another checkout of this repository (e.g. a git worktree of an older commit): its "
                             "variants alternate with this one's, for a before/after on the same machine state")
    args = parser.parse_args()

    variants = {name: ["-c", code] for name, code in STEPS}
    if args.baseline:
        variants[f"{STEPS[-1][0]} [baseline]"] = [f"@{args.baseline.resolve()}", "-c", OURS]
    steps = _alternate(variants, args.runs)
    _table(f"import, median (min-max) over {args.runs} alternating runs; ratios to bare functions_framework", steps)
    (bare, bare_cpu), (ours, ours_cpu) = steps[STEPS[0][0]], steps[STEPS[-1][0]]
    print(f"\ncold-start ratio (main / bare): wall {statistics.median(ours) / statistics.median(bare):.2f}, "
          f"CPU {statistics.median(ours_cpu) / statistics.median(bare_cpu):.2f}")

    if args.first_answer:
        with tempfile.TemporaryDirectory() as tmp:
            bare_source = Path(tmp) / "main.py"
            bare_source.write_text(BARE_FUNCTION)
            variants = {"bare (firestore + firebase_admin.auth)": ["-c", FIRST_ANSWER, "bare", str(bare_source), "/"]}
            for target, path, module in TARGETS:
                variants[target] = ["-c", FIRST_ANSWER, target, str(REPO / "functions" / "main.py"), path, module,
                                    *ANSWER_NEEDS]
                if args.baseline:
                    base = args.baseline.resolve()
                    variants[f"{target} [baseline]"] = [f"@{base}", "-c", FIRST_ANSWER, target,
                                                        str(base / "functions" / "main.py"), path, module,
                                                        *ANSWER_NEEDS]
            answers = _alternate(variants, args.runs)
        _table(f"create_app + first answer, median (min-max) over {args.runs} alternating runs", answers)


if __name__ == "__main__":
    main()
