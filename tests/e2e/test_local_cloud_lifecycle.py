"""`make dev` as a developer lives it: READY within a minute, Ctrl-C leaves nothing running, a start after a
crash (the supervisor killed, its children orphaned) cleans up and comes up again, a service that dies is
restarted instead of taking the local cloud down, and a second start while one runs is refused instead of taking
over."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_emulator.processes import free_port, http_ok
from local_emulator.stack import REPO, StackConfig

READY_WITHIN_SECONDS = 60


def _up(state_dir: Path, ports: dict[str, int]) -> tuple[list[str], dict[str, str]]:
    """The command and environment of `make dev` on ``ports`` with ``state_dir``."""
    env = {**os.environ, **{f"KSTREAM_LOCAL_{name.upper()}": str(port) for name, port in ports.items()}}
    return [sys.executable, "-m", "local_emulator", "--state-dir", str(state_dir), "up", "--no-seed"], env


def _start(state_dir: Path, ports: dict[str, int]) -> tuple[subprocess.Popen[str], float]:
    command, env = _up(state_dir, ports)
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    _SEEN.add(process.pid)  # its own session, so its own process group
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("READY "):
            # keep reading: a full pipe would block the supervisor's log and with it every service
            threading.Thread(target=lambda: [None for _ in process.stdout or ()], daemon=True).start()
            return process, time.monotonic() - started
        if time.monotonic() - started > READY_WITHIN_SECONDS * 2:
            break
    process.kill()
    pytest.fail("no READY line; output:\n" + "".join(lines[-40:]))


def _groups(state_dir: Path) -> dict[str, int]:
    groups = {k: int(v) for k, v in json.loads((state_dir / "pids.json").read_text()).items()}
    _SEEN.update(groups.values())
    return groups


_SEEN: set[int] = set()  # every process group this test started, directly or through a supervisor


@pytest.fixture(autouse=True)
def _nothing_left_behind(tmp_path: Path) -> Iterator[None]:
    """Whatever happens in the test, no emulator outlives it (a failed assertion used to leave a stack running)."""
    _SEEN.clear()
    yield
    with contextlib.suppress(OSError, ValueError):
        _groups(tmp_path)  # the services of a supervisor still running
    for pgid in _SEEN:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ready_fast_then_ctrl_c_stops_everything_and_a_crash_is_recovered(tmp_path: Path) -> None:
    ports = {name: free_port() for name in StackConfig.port_names()}
    process, seconds = _start(tmp_path, ports)
    assert seconds < READY_WITHIN_SECONDS, f"READY took {seconds:.1f}s"
    groups = _groups(tmp_path)
    assert {"firestore", "pubsub", "auth", "storage", "functions", "eventarc", "gateway"} <= set(groups)

    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while any(_alive(g) for g in groups.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [name for name, g in groups.items() if _alive(g)] == []

    # A crash: the supervisor dies without cleaning up; its services keep running and hold the ports.
    crashed, _ = _start(tmp_path, ports)
    orphans = _groups(tmp_path)
    os.kill(crashed.pid, signal.SIGKILL)
    crashed.wait(timeout=10)
    assert any(_alive(g) for g in orphans.values())
    again, _ = _start(tmp_path, ports)
    assert [name for name, g in orphans.items() if _alive(g)] == []

    # A service that dies is restarted (a new process group), and the local cloud keeps serving.
    cfg = StackConfig.read(tmp_path)
    killed = _groups(tmp_path)["gateway"]
    os.killpg(killed, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (_groups(tmp_path).get("gateway") not in (None, killed)
                                               and http_ok(f"{cfg.gateway_url}/_emulator/healthz")):
        time.sleep(0.2)
    assert _groups(tmp_path)["gateway"] != killed and http_ok(f"{cfg.gateway_url}/_emulator/healthz")
    assert again.poll() is None

    # A second start from the same checkout while one runs is refused; the running one is left alone.
    command, env = _up(tmp_path, ports)
    second = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1 and "already running" in second.stderr + second.stdout, second
    running = _groups(tmp_path)
    assert running and all(_alive(g) for g in running.values()) and again.poll() is None
    again.send_signal(signal.SIGINT)
    assert again.wait(timeout=60) == 0
