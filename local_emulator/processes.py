"""Child processes of the local cloud: started in their own process groups, logs merged into one coloured stream,
health-checked, and all stopped together. A pid file lets the next start clean up after a crash."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

COLOURS = ("36", "35", "33", "32", "34", "91", "96", "95", "93", "92")


class StartupError(RuntimeError):
    """A service did not come up; the message says which and shows the end of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(200 <= response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (OSError, ValueError):
        return False


def _started_at(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22), or None if it is not running: with
    the pid it names one process, even after the pid is reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()[19]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Service:
    name: str
    argv: list[str]
    health_url: str | None = None
    health: Callable[[], bool] | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    ready_timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None
    tail: list[str] = field(default_factory=list)

    def is_healthy(self) -> bool:
        if self.health is not None:
            return self.health()
        if self.health_url is not None:
            return http_ok(self.health_url)
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Starts services, streams their output with a coloured ``name |`` prefix, stops them all."""

    def __init__(self, state_dir: Path, log: IO[str] | None = None, colour: bool | None = None) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.pid_file = state_dir / "pids.json"
        self.owner_file = state_dir / "supervisor.json"  # the process running this state dir's services
        self.owns_state = False  # set by claim(): only then may stop() remove the state dir's pid files
        self.log = log if log is not None else sys.stdout
        self.colour = self.log.isatty() if colour is None else colour
        self.services: list[Service] = []
        self._lock = threading.Lock()

    # -- leftovers of a crashed run -------------------------------------------------------------
    def claim(self) -> None:
        """Make this process the one running the state dir: refuse if another live one does (a second `make dev`
        in the same checkout), else stop what a crashed one left behind."""
        try:
            owner = json.loads(self.owner_file.read_text())
            pid, started = int(owner["pid"]), str(owner["started"])
        except (OSError, ValueError, KeyError, TypeError):
            pid, started = 0, ""
        if pid and pid != os.getpid() and _started_at(pid) == started:
            raise StartupError(f"a local cloud is already running from {self.state_dir} (pid {pid}): use it, or "
                               "stop it (Ctrl-C in its terminal) first")
        self.reap_leftovers()
        self.owner_file.write_text(json.dumps({"pid": os.getpid(), "started": _started_at(os.getpid())}))
        self.owns_state = True

    def reap_leftovers(self) -> None:
        if not self.pid_file.exists():
            return
        try:
            groups = json.loads(self.pid_file.read_text())
        except ValueError:
            groups = {}
        killed = []
        for name, pgid in groups.items():
            try:
                os.killpg(int(pgid), signal.SIGKILL)
                killed.append(int(pgid))
                self.say("stack", f"stopped {name} left over from an earlier run (pgid {pgid})")
            except (ProcessLookupError, PermissionError, ValueError):
                pass
        deadline = time.monotonic() + 15
        while killed and time.monotonic() < deadline:  # their ports are free only once they are gone
            killed = [pgid for pgid in killed if _group_alive(pgid)]
            time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)

    def _record_pids(self) -> None:
        groups = {s.name: s.process.pid for s in self.services if s.process and s.process.poll() is None}
        self.pid_file.write_text(json.dumps(groups))

    # -- output ---------------------------------------------------------------------------------
    def say(self, name: str, line: str) -> None:
        width = 11
        prefix = f"{name[:width]:<{width}}|"
        if self.colour:
            index = sum(map(ord, name)) % len(COLOURS)
            prefix = f"\x1b[{COLOURS[index]}m{prefix}\x1b[0m"
        with self._lock:
            self.log.write(f"{prefix} {line}\n")
            self.log.flush()

    def _pump(self, service: Service, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            service.tail.append(line)
            del service.tail[:-40]
            self.say(service.name, line)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, service: Service) -> Service:
        env = {**os.environ, **service.env}
        service.process = subprocess.Popen(
            service.argv,
            cwd=service.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.services.append(service)
        self._record_pids()
        assert service.process.stdout is not None
        threading.Thread(target=self._pump, args=(service, service.process.stdout), daemon=True).start()
        return service

    def wait_healthy(self, services: list[Service]) -> None:
        pending = list(services)
        deadline = {s.name: time.monotonic() + s.ready_timeout for s in services}
        while pending:
            for service in list(pending):
                assert service.process is not None
                if service.process.poll() is not None:
                    raise StartupError(self._failure(service, f"exited with code {service.process.returncode}"))
                if service.is_healthy():
                    pending.remove(service)
                    self.say(service.name, "healthy")
                elif time.monotonic() > deadline[service.name]:
                    raise StartupError(self._failure(service, f"not healthy after {service.ready_timeout:.0f}s"))
            if pending:
                time.sleep(0.1)

    def _failure(self, service: Service, what: str) -> str:
        tail = "\n    ".join(service.tail[-15:]) or "(no output)"
        return f"{service.name} {what}; last output:\n    {tail}"

    def stop_all(self, grace: float = 5.0) -> None:
        for service in reversed(self.services):
            if service.process and service.process.poll() is None:
                try:
                    os.killpg(service.process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for service in reversed(self.services):
            if not service.process:
                continue
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:  # the group may hold grandchildren (java under gcloud, node under npx)
                os.killpg(service.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                service.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.services.clear()
        if self.owns_state:
            self.pid_file.unlink(missing_ok=True)
            self.owner_file.unlink(missing_ok=True)
            self.owns_state = False
