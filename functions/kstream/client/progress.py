"""A progress line for uploads: percent, bar, bytes, speed (last few seconds) and ETA. Thread-safe."""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from typing import IO

MIB = 1024 * 1024
_WIDTH = 24
_SPEED_WINDOW = 5.0


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"  # pragma: no cover


def human_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def render(label: str, done: int, total: int, speed: float | None) -> str:
    fraction = done / total if total else 1.0
    filled = int(fraction * _WIDTH)
    bar = "#" * filled + "-" * (_WIDTH - filled)
    rate = f"{human_bytes(speed)}/s" if speed else "--"
    eta = human_duration((total - done) / speed) if speed and done < total else "--:--"
    return f"{label} {fraction * 100:5.1f}% [{bar}] {human_bytes(done)}/{human_bytes(total)} {rate} ETA {eta}"


class Progress:
    """Counts bytes sent; draws a line at most every ``interval`` seconds (``\\r`` on a terminal)."""

    def __init__(self, total: int, label: str = "", stream: IO[str] | None = None, interval: float = 0.2,
                 enabled: bool = True) -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.interval = interval if self.stream.isatty() else max(interval, 2.0)
        self.enabled = enabled
        self.done = 0
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, int]] = deque()
        self._last_draw = 0.0
        self._started = time.monotonic()

    def start_at(self, done: int) -> None:
        """Bytes already uploaded before this run (a resume); not counted in the speed."""
        with self._lock:
            self.done = done
            self._samples.clear()

    def advance(self, count: int) -> None:
        with self._lock:
            self.done += count
            now = time.monotonic()
            self._samples.append((now, self.done))
            while self._samples and now - self._samples[0][0] > _SPEED_WINDOW:
                self._samples.popleft()
            if now - self._last_draw >= self.interval:
                self._last_draw = now
                self._draw(now)

    def speed(self, now: float | None = None) -> float | None:
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        return (b1 - b0) / (t1 - t0) if t1 > t0 else None

    def _draw(self, now: float) -> None:
        if not self.enabled:
            return
        line = render(self.label, self.done, self.total, self.speed(now))
        if self.stream.isatty():
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self, message: str = "") -> None:
        if not self.enabled:
            return
        with self._lock:
            self._draw(time.monotonic())
            if self.stream.isatty():
                self.stream.write("\n")
            if message:
                self.stream.write(message + "\n")
            self.stream.flush()
