"""Child processes of the local cloud: started in their own process groups, logs merged into one coloured stream,
health-checked, restarted when one dies (as a managed service comes back), and all stopped together. A pid file
lets the next start clean up after a crash.

Restarts: a service that exits is started again after a backoff (1 s, then doubling up to 16 s), logged, at most
``MAX_RESTARTS_PER_MINUTE`` times in any minute; past that the supervisor gives up on it and the whole local cloud
stops (something is really broken: its log says what). ``after_restart`` re-wires what the dead process took with
it (the Pub/Sub emulator's topics, say)."""

from __future__ import annotations

import contextlib
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

MAX_RESTARTS_PER_MINUTE = 5
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 16.0

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
    restart: bool = True  # start it again when it dies (see the module docstring)
    before_start: Callable[[], None] | None = None  # run before every start (e.g. pick the snapshot to import)
    after_restart: Callable[[], None] | None = None  # run once a restarted process is healthy again
    restarts: list[float] = field(default_factory=list)  # monotonic times of its restarts

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
        self._life = threading.Lock()  # held while starting or stopping processes
        self._stopping = False
        self._reviving: set[str] = set()
        self.gave_up: str | None = None  # why the watch loop stopped the local cloud
        self.restarted = threading.Event()  # set on every successful restart (tests wait on it)

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
        temporary = self.pid_file.with_suffix(".tmp")  # readers (tests, the next start) never see half a file
        temporary.write_text(json.dumps(groups))
        temporary.replace(self.pid_file)

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
        with self._life:
            self._launch(service)
            self.services.append(service)
            self._record_pids()
        return service

    def _launch(self, service: Service) -> None:
        if service.before_start is not None:
            service.before_start()
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
        assert service.process.stdout is not None
        threading.Thread(target=self._pump, args=(service, service.process.stdout), daemon=True).start()

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    # -- restarts -------------------------------------------------------------------------------
    def watch(self, stop: threading.Event, every: float = 0.5) -> None:
        """Restart services that die until ``stop`` is set, or until one dies too often (then :attr:`gave_up` says
        which and ``stop`` is set)."""
        while not stop.wait(every):
            for service in list(self.services):
                if service.process is None or service.process.poll() is None or service.name in self._reviving:
                    continue
                if self._stopping:
                    return
                now = time.monotonic()
                service.restarts = [t for t in service.restarts if now - t < 60]
                code = service.process.returncode
                if not service.restart or len(service.restarts) >= MAX_RESTARTS_PER_MINUTE:
                    self.gave_up = (f"{service.name} exited with code {code} "
                                    + (f"{len(service.restarts) + 1} times in a minute" if service.restart else "")
                                    + "; stopping the local cloud")
                    self.say("stack", self.gave_up)
                    stop.set()
                    return
                delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** len(service.restarts))
                service.restarts.append(now)
                self._reviving.add(service.name)
                self.say("stack", f"{service.name} exited with code {code}; restarting it in {delay:.0f}s "
                                  f"(restart {len(service.restarts)} of at most {MAX_RESTARTS_PER_MINUTE} a minute)")
                threading.Thread(target=self._revive, args=(service, delay), daemon=True).start()

    def _revive(self, service: Service, delay: float) -> None:
        try:
            time.sleep(delay)
            with self._life:
                if self._stopping:
                    return
                with contextlib.suppress(ProcessLookupError, PermissionError):  # what is left of its group
                    os.killpg(service.process.pid if service.process else 0, signal.SIGKILL)
                started = time.monotonic()
                self._launch(service)
                self._record_pids()
            deadline = time.monotonic() + service.ready_timeout
            while not service.is_healthy():
                if self._stopping or (service.process is not None and service.process.poll() is not None):
                    return  # stopped meanwhile, or died again: the watch loop sees it
                if time.monotonic() > deadline:
                    self.say("stack", f"{service.name} not healthy {service.ready_timeout:.0f}s after its restart")
                    return
                time.sleep(0.1)
            if service.after_restart is not None:
                service.after_restart()
            self.say("stack", f"{service.name} restarted, healthy in {time.monotonic() - started:.1f}s")
            self.restarted.set()
        except Exception as exc:  # logged; the watch loop tries again while it is still down
            self.say("stack", f"restarting {service.name} failed: {exc}")
        finally:
            self._reviving.discard(service.name)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int:
        """Send ``sig`` to a service's whole process group (fault injection); its pid."""
        process = self.service(name).process
        assert process is not None
        os.killpg(process.pid, sig)
        return process.pid

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
        with self._life:
            self._stopping = True
            self._stop_all(grace)

    def _stop_all(self, grace: float) -> None:
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
