"""Source probe: bytes read from storage per corpus file, and the trigger function's cold import, new beside old.

Reads: every sample of tests/media_corpus.py (plus "x10" copies of the large ones, stream-copied ten times over, to
show that reads do not grow with the object) is probed through a local ``read_range`` over the file that counts
calls and bytes. The probe's reads do not depend on the transport, so a Cloud Storage or fake-gcs-server object
of the same bytes is read the same way. Each file is probed by
  - new: kstream.transcode.media_probe (MediaInfo through pymediainfo),
  - old: the hand-written container_probe.py as it was before it was deleted (``git show <commit>^:<path>`` into a
    temporary directory),
  - pyav: PyAV's ``av.open`` on a counting file object over the same reads (the alternative the decision record
    weighs; default probesize and analyzeduration), when PyAV is installed.

Cold start: a fresh interpreter per sample, as bench/bench_cold_start.py does, for ``import functions_framework,
main`` followed by importing the probe module (new and old), and the same followed by the first probe of a small MP4
(MediaInfo loads libmediainfo on its first parse). Each run reports its whole wall time and, timed inside it, the
probe module's import and the first probe (steadier on a busy machine than the wall time). Variants alternate within
each round; medians, min-max and the new/old ratio of the wall time are printed. Installed sizes are summed from the packages' RECORD files.

Run: .venv/bin/python bench/bench_probe.py [--rounds 5] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from kstream.transcode import media_probe  # noqa: E402

from tests.media_corpus import SAMPLES, generate_all  # noqa: E402

OLD_PATH = "functions/kstream/transcode/container_probe.py"
LARGE = ("moov_at_end_mp4", "mpeg2_1080i_ac3_ts", "dv_ntsc_avi")


class CountingReader:
    """read_range over a local file: counts calls and bytes."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.size = path.stat().st_size
        self.calls = 0
        self.bytes = 0

    def __call__(self, offset: int, length: int) -> bytes:
        self.calls += 1
        self.file.seek(offset)
        data = self.file.read(length)
        self.bytes += len(data)
        return data


class CountingFile(io.RawIOBase):
    """The same counting over a plain file object, for PyAV (it reads and seeks through Python callbacks)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.reader = CountingReader(path)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: 0, 1: self.pos, 2: self.reader.size}[whence] + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer) -> int:
        data = self.reader(self.pos, len(buffer)) if self.pos < self.reader.size else b""
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def _old_module(workdir: Path) -> Path | None:
    """container_probe.py from the commit before the one that deleted it (or HEAD while it still exists)."""
    deleted = subprocess.run(["git", "rev-list", "-n", "1", "HEAD", "--", OLD_PATH], cwd=REPO,
                             capture_output=True, text=True).stdout.strip()
    for rev in ([f"{deleted}^"] if deleted else []) + ["HEAD"]:
        shown = subprocess.run(["git", "show", f"{rev}:{OLD_PATH}"], cwd=REPO, capture_output=True, text=True)
        if shown.returncode == 0:
            target = workdir / "old_probe"
            target.mkdir(exist_ok=True)
            (target / "container_probe.py").write_text(shown.stdout)
            return target
    return None


def _scaled(corpus: Path, name: str) -> Path:
    source = SAMPLES[name].make(corpus)
    target = corpus / f"x10-{source.name}"
    if not target.exists():
        fmt = {".mp4": "mp4", ".ts": "mpegts", ".avi": "avi"}[source.suffix]
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-stream_loop", "9",
                        "-i", str(source), "-c", "copy", "-f", fmt, str(target)], check=True)
    return target


def _probe_new(path: Path) -> tuple[int, int, float, str]:
    reader = CountingReader(path)
    started = time.perf_counter()
    try:
        info = media_probe.probe(reader, reader.size)
        verdict = f"{info.container} {info.width}x{info.height} {info.scan_type}"
    except media_probe.UnsupportedSource as exc:
        verdict = f"refused: {exc.reason[:48]}"
    return reader.bytes, reader.calls, (time.perf_counter() - started) * 1000, verdict


def _probe_old(module, path: Path) -> tuple[int, int, str]:
    reader = CountingReader(path)
    try:
        module.probe(reader, reader.size)
        verdict = "ok"
    except module.UnsupportedSource as exc:
        verdict = f"refused: {exc.reason[:40]}"
    return reader.bytes, reader.calls, verdict


def _probe_pyav(path: Path) -> tuple[int, int, str] | None:
    try:
        import av
    except ImportError:
        return None
    handle = CountingFile(path)
    try:
        with av.open(handle):
            verdict = "ok"
    except Exception as exc:
        verdict = f"error: {type(exc).__name__}"
    return handle.reader.bytes, handle.reader.calls, verdict


def _mb(n: int) -> str:
    return f"{n / 1e6:7.2f}"


def reads(corpus: Path, old_dir: Path | None) -> None:
    old = None
    if old_dir is not None:
        sys.path.insert(0, str(old_dir))
        import container_probe as old
    files = [(name, SAMPLES[name].make(corpus)) for name in SAMPLES]
    files += [(f"{name} x10", _scaled(corpus, name)) for name in LARGE]
    print("Bytes read from storage per probe (local read_range over the file; MB = 10^6 bytes)")
    print(f"{'sample':26} {'size MB':>8} | {'new MB':>7} {'calls':>5} {'ms':>5} {'% read':>6} | {'old MB':>7} "
          f"{'calls':>5} | {'pyav MB':>7} {'calls':>5} | new verdict / old verdict")
    for name, path in files:
        size = path.stat().st_size
        new_bytes, new_calls, ms, verdict = _probe_new(path)
        old_part, old_verdict = f"{'-':>7} {'-':>5}", "-"
        if old is not None:
            ob, oc, old_verdict = _probe_old(old, path)
            old_part = f"{_mb(ob)} {oc:5d}"
        av_part = f"{'-':>7} {'-':>5}"
        pyav = _probe_pyav(path)
        if pyav is not None:
            av_part = f"{_mb(pyav[0])} {pyav[1]:5d}"
        print(f"{name:26} {_mb(size):>8} | {_mb(new_bytes)} {new_calls:5d} {ms:5.0f} {100 * new_bytes / size:5.1f}% | "
              f"{old_part} | {av_part} | {verdict} / {old_verdict}")


def _sample(code: str) -> tuple[float, float, float]:
    """(wall ms of the whole interpreter, ms importing the probe module, ms of the first probe) of one fresh run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "functions")]),
           "KSTREAM_PROJECT_ID": "demo-bench"}
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO / "functions", env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return (time.perf_counter() - started) * 1000, float(out[0]) * 1000, float(out[1]) * 1000


def _program(module: str, path_entry: str | None, small: Path, *, first_probe: bool) -> str:
    lines = ["import time, sys", "import functions_framework, main"]
    if path_entry:
        lines.append(f"sys.path.insert(0, {path_entry!r})")
    lines += ["t0 = time.perf_counter()", f"import {module} as m", "t1 = time.perf_counter()"]
    if first_probe:
        lines += [f"d = open({str(small)!r}, 'rb').read()", "m.probe(lambda o, n: d[o:o + n], len(d))"]
    lines.append("print(t1 - t0, time.perf_counter() - t1)")
    return "\n".join(lines)


def cold_start(rounds: int, old_dir: Path | None, small: Path) -> None:
    variants = {
        "new: main + media_probe": _program("kstream.transcode.media_probe", None, small, first_probe=False),
        "new: + first probe": _program("kstream.transcode.media_probe", None, small, first_probe=True),
    }
    if old_dir is not None:
        variants = {
            "old: main + container_probe": _program("container_probe", str(old_dir), small, first_probe=False),
            "old: + first probe": _program("container_probe", str(old_dir), small, first_probe=True),
            **variants,
        }
    for code in variants.values():
        _sample(code)  # warm the file cache
    runs: dict[str, list[tuple[float, float, float]]] = {label: [] for label in variants}
    for _ in range(rounds):
        for label, code in variants.items():
            runs[label].append(_sample(code))
    print(f"\nCold start of the trigger function, fresh interpreter each, {rounds} alternating rounds (ms): "
          "median [min-max]")
    print(f"  {'variant':30} {'whole interpreter':>26} {'probe module import':>26} {'first probe':>22}")

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):7.1f} [{min(values):6.1f}-{max(values):6.1f}]"

    for label, samples in runs.items():
        wall, imp, first = zip(*samples, strict=True)
        print(f"  {label:30} {cell(list(wall)):>26} {cell(list(imp)):>26} {cell(list(first)):>22}")
    if old_dir is not None:
        for new, old in (("new: main + media_probe", "old: main + container_probe"),
                         ("new: + first probe", "old: + first probe")):
            ratio = statistics.median(s[0] for s in runs[new]) / statistics.median(s[0] for s in runs[old])
            print(f"  whole-interpreter ratio {new!r} / {old!r}: {ratio:.2f}")


def installed_sizes() -> None:
    print("\nInstalled size (files listed in each distribution's RECORD)")
    for dist in ("pymediainfo", "av"):
        try:
            files = importlib.metadata.files(dist) or []
        except importlib.metadata.PackageNotFoundError:
            print(f"  {dist:12} not installed")
            continue
        total = sum((f.size or 0) for f in files)
        print(f"  {dist:12} {importlib.metadata.version(dist):8} {total / 1e6:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, help="corpus directory (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        corpus = args.corpus or Path(tmp) / "corpus"
        generate_all(corpus)
        old_dir = _old_module(Path(tmp))
        if old_dir is None:
            print("(old container_probe.py not found in git history: new probe only)")
        reads(corpus, old_dir)
        cold_start(args.rounds, old_dir, SAMPLES["faststart_mp4"].make(corpus))
        installed_sizes()


if __name__ == "__main__":
    main()
