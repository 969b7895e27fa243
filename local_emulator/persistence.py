"""What ``make dev`` keeps between runs, under ``.local/data``, and what a crash cost.

    data/firestore/current/   the Firestore emulator's last export (imported at start: ``--import-data``)
    data/auth/current/        the Auth emulator's last export (``--import``; also ``--export-on-exit``)
    data/gcs/                 fake-gcs-server's filesystem backend: every object, written through as it arrives
    data/alive.json           when the running local cloud last flushed (rewritten every flush)
    data/stopped.json         written by a clean stop, after its final flush; absent after a crash

Firestore and Auth keep their data in memory, so the running local cloud exports both every few seconds and once
more when it stops. An export goes to ``next/`` and is then renamed to ``current/``: a crash in the middle leaves
the previous export whole. After ``kill -9`` of the supervisor (or of one emulator) the next start imports the
last export: writes after it are lost, and the start says how many seconds' worth. Pub/Sub messages that were
pending are lost (the emulator keeps none); the transcode sweep reconciles the jobs whose notices were among them.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S UTC")


class Snapshot:
    """One emulator's exports: ``root/current`` is always a complete one (or absent)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def current(self) -> Path | None:
        for name in ("current", "previous"):  # previous: a crash between the two renames of replace()
            path = self.root / name
            if (path / "taken.json").exists():
                return path
        return None

    def taken_at(self) -> float | None:
        current = self.current
        if current is None:
            return None
        return float(json.loads((current / "taken.json").read_text())["at"])

    def replace(self, export: Callable[[Path], None]) -> None:
        """``export(directory)`` into a fresh directory, then make it ``current``."""
        self.root.mkdir(parents=True, exist_ok=True)
        taken = time.time()
        staging = self.root / "next"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        export(staging)
        (staging / "taken.json").write_text(json.dumps({"at": taken}))
        current, previous = self.root / "current", self.root / "previous"
        shutil.rmtree(previous, ignore_errors=True)
        if current.exists():
            current.rename(previous)
        staging.rename(current)
        shutil.rmtree(previous, ignore_errors=True)


class DataDir:
    def __init__(self, state_dir: Path) -> None:
        self.root = state_dir / "data"
        self.gcs = self.root / "gcs"
        self.firestore = Snapshot(self.root / "firestore")
        self.auth = Snapshot(self.root / "auth")
        self._alive = self.root / "alive.json"
        self._stopped = self.root / "stopped.json"

    def wipe(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def firestore_import(self) -> Path | None:
        """The ``.overall_export_metadata`` file of the last Firestore export (what ``--import-data`` takes)."""
        current = self.firestore.current
        found = sorted(current.glob("*/*.overall_export_metadata")) if current else []
        return found[-1] if found else None

    def auth_import(self) -> Path | None:
        current = self.auth.current
        return current if current and (current / "firebase-export-metadata.json").exists() else None

    @staticmethod
    def auth_valid_since(export: Path | None) -> dict[str, str]:
        """uid -> ``validSince`` of each user in an Auth export (see LocalCloud._restore_auth_sessions)."""
        try:
            users = json.loads((export / "auth_export" / "accounts.json").read_text())["users"] if export else []
        except (OSError, ValueError, KeyError):
            return {}
        return {str(u["localId"]): str(u["validSince"]) for u in users if u.get("localId") and u.get("validSince")}

    def open(self) -> list[str]:
        """Prepare for a run; lines saying what the last run left (and lost, if it did not stop cleanly)."""
        existed = self.root.exists()
        self.gcs.mkdir(parents=True, exist_ok=True)
        if not existed:
            return ["no saved data: starting empty"]
        kept = [f"Cloud Storage objects from {self.gcs}"]
        fs_at, auth_at = self.firestore.taken_at(), self.auth.taken_at()
        if fs_at:
            kept.append(f"Firestore as of {_stamp(fs_at)}")
        if auth_at:
            kept.append(f"Auth users as of {_stamp(auth_at)}")
        lines = ["restored " + ", ".join(kept)]
        if self._stopped.exists():
            self._stopped.unlink()
            return lines
        try:
            alive = float(json.loads(self._alive.read_text())["at"])
        except (OSError, ValueError, KeyError):
            alive = None
        lost = [f"{what} writes after {_stamp(taken)}" for what, taken in (("Firestore", fs_at), ("Auth", auth_at))
                if taken is not None]
        when = f" (last seen alive at {_stamp(alive)})" if alive is not None else ""
        lines.append(f"the last run did not stop cleanly{when}: lost {', '.join(lost) or 'nothing flushed'}, if "
                     "there were any; Pub/Sub messages pending then are gone (the transcode sweep reconciles their "
                     "jobs)")
        return lines

    def mark_alive(self) -> None:
        self._write(self._alive, {"at": time.time()})

    def mark_stopped(self) -> None:
        self._write(self._stopped, {"at": time.time()})

    @staticmethod
    def _write(path: Path, body: dict[str, float]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(body))
        temporary.replace(path)
