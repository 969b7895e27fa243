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
    ("+ pydantic", "import functions_framework, pydantic"),
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


def _sample(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "functions")]),
           "KSTREAM_PROJECT_ID": "demo-bench", "KSTREAM_LOG_LEVEL": "ERROR"}
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=REPO / "functions", env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def _alternate(variants: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    for argv in variants.values():  # warm the file cache
        _sample(argv)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, argv in variants.items():
            samples[name].append(_sample(argv))
    return samples


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--first-answer", action="store_true", help="also time create_app + first request")
    args = parser.parse_args()

    steps = _alternate({name: ["-c", code] for name, code in STEPS}, args.runs)
    bare, ours = steps[STEPS[0][0]], steps[STEPS[-1][0]]
    print(f"## import, median (min-max) over {args.runs} alternating runs")
    for name, values in steps.items():
        print(f"{name:50s} {_ms(values)}")
    print(f"import functions_framework         median {statistics.median(bare) * 1000:7.1f} ms")
    print(f"import functions_framework, main   median {statistics.median(ours) * 1000:7.1f} ms")
    print(f"cold-start ratio (main / bare): {statistics.median(ours) / statistics.median(bare):.2f}")

    if args.first_answer:
        with tempfile.TemporaryDirectory() as tmp:
            bare_source = Path(tmp) / "main.py"
            bare_source.write_text(BARE_FUNCTION)
            variants = {"bare (firestore + firebase_admin.auth)": ["-c", FIRST_ANSWER, "bare", str(bare_source), "/"]}
            for target, path, module in TARGETS:
                variants[target] = ["-c", FIRST_ANSWER, target, str(REPO / "functions" / "main.py"), path, module,
                                    *ANSWER_NEEDS]
            answers = _alternate(variants, args.runs)
        base = statistics.median(next(iter(answers.values())))
        print(f"\n## create_app + first answer, median (min-max) over {args.runs} alternating runs")
        for name, values in answers.items():
            print(f"{name:40s} {_ms(values)}  ratio {statistics.median(values) / base:.2f}")


if __name__ == "__main__":
    main()
