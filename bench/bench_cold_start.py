"""Cold start: importing functions/main.py (every entry point) against a bare `import functions_framework`.

Each sample is a fresh interpreter, alternating the two so machine noise hits both alike. Prints the medians
and their ratio. Run: .venv/bin/python bench/bench_cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BARE = "import functions_framework"
OURS = "import functions_framework, main"


def _sample(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "functions")]),
           "KSTREAM_PROJECT_ID": "demo-bench"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO / "functions", env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    _sample(OURS)  # warm the file cache for both
    bare, ours = [], []
    for _ in range(args.runs):
        bare.append(_sample(BARE))
        ours.append(_sample(OURS))
    bare_ms, ours_ms = statistics.median(bare) * 1000, statistics.median(ours) * 1000
    print(f"import functions_framework         median {bare_ms:7.1f} ms over {args.runs} runs")
    print(f"import functions_framework, main   median {ours_ms:7.1f} ms over {args.runs} runs")
    print(f"cold-start ratio (main / bare): {ours_ms / bare_ms:.2f}")


if __name__ == "__main__":
    main()
