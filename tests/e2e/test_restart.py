"""`make dev` keeps your data: upload an episode, stop the local cloud (Ctrl-C), start it again: the video, its
media and its uploader are still there and it plays; `--fresh` (make dev FRESH=1) starts empty."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kstream.client import UploadApi, Uploader

from local_emulator import tokens
from local_emulator.processes import free_port
from local_emulator.stack import REPO, StackConfig
from tests.emulator import transcode_support as ts

READY_WITHIN = 120.0


def _start(state_dir: Path, ports: dict[str, int], *extra: str) -> tuple[subprocess.Popen[str], list[str]]:
    """`make dev` (no sample series) on ``ports``; returns once it printed READY."""
    env = {**os.environ, **{f"KSTREAM_LOCAL_{name.upper()}": str(port) for name, port in ports.items()},
           "KSTREAM_LOCAL_TRANSCODER_MIN_INPUT_SECONDS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "local_emulator", "--state-dir", str(state_dir), "up", "--no-seed", *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert process.stdout is not None
    lines: list[str] = []
    started = time.monotonic()
    for line in process.stdout:
        lines.append(line)
        if line.startswith("READY "):
            # keep reading: a full pipe would block the supervisor's log and with it every service
            threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True).start()
            return process, lines
        if time.monotonic() - started > 180:
            break
    process.kill()
    pytest.fail("no READY line; output:\n" + "".join(lines[-40:]))


def _stop(process: subprocess.Popen[str], lines: list[str]) -> str:
    process.send_signal(signal.SIGINT)
    process.wait(timeout=90)
    time.sleep(0.5)  # the reader thread takes the last lines
    output = "".join(lines)
    assert process.returncode == 0, output[-3000:]
    return output


@pytest.fixture
def ports(tmp_path: Path) -> Iterator[dict[str, int]]:
    """Free ports; afterwards, whatever happened, no service of the test's local clouds is left running."""
    yield {name: free_port() for name in StackConfig.port_names()}
    with contextlib.suppress(OSError, ValueError):
        for pgid in json.loads((tmp_path / "state" / "pids.json").read_text()).values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pgid), signal.SIGKILL)


def _plays(cfg: StackConfig, video_id: str, token: str) -> None:
    """ffmpeg decodes the first second of the stream the API hands out (HLS master, through the local CDN)."""
    decoded = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-headers", f"Authorization: Bearer {token}\r\n",
         "-i", f"{cfg.gateway_url}/api/stream/{video_id}", "-t", "1", "-f", "null", "-"],
        capture_output=True, text=True, timeout=120, check=False)
    assert decoded.returncode == 0, decoded.stderr[-2000:]


def test_a_restart_keeps_the_video_its_media_and_its_user_and_fresh_starts_empty(
        tmp_path: Path, ports: dict[str, int]) -> None:
    state = tmp_path / "state"
    process, first = _start(state, ports)
    try:
        cfg = StackConfig.read(state)
        email = f"keep-{uuid.uuid4().hex[:8]}@kstream.test"
        token = tokens.user_token(cfg, "uploader", email)
        source = ts.make_source(tmp_path, "keep.mp4")
        series = f"Kept {uuid.uuid4().hex[:8]}"
        uploader = Uploader(UploadApi(cfg.gateway_url, token), state_dir=tmp_path / "client", show_progress=False)
        video_id = uploader.upload(source, {"title": "Kept", "series": series, "episode": 1}).video_id
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token}"
        ts.wait_for(lambda: api.get(f"{cfg.gateway_url}/api/videos/{video_id}", timeout=30).json().get("status")
                    == "ready", timeout=READY_WITHIN, what="the video to be ready")
        before = api.get(f"{cfg.gateway_url}/api/videos/{video_id}", timeout=30).json()
    finally:
        output = _stop(process, first)
    assert "data saved under" in output

    again, lines = _start(state, ports)
    try:
        assert any("restored" in line and "Firestore as of" in line for line in lines), "".join(lines[-30:])
        assert not any("did not stop cleanly" in line for line in lines)
        token = tokens.user_token(cfg, "uploader", email)  # signs in: the user was kept (same uid, same role)
        api.headers["Authorization"] = f"Bearer {token}"
        after = api.get(f"{cfg.gateway_url}/api/videos/{video_id}", timeout=30)
        assert after.status_code == 200, after.text
        assert after.json()["status"] == "ready" and after.json()["uploader"] == before["uploader"]
        _plays(cfg, video_id, token)
        # A crash (the supervisor killed): the next start restores what was flushed and says what it may lack.
        os.kill(again.pid, signal.SIGKILL)
        again.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(again.pid, signal.SIGKILL)
    third, lines = _start(state, ports)
    try:
        assert any("did not stop cleanly" in line for line in lines), "".join(lines[-30:])
        assert api.get(f"{cfg.gateway_url}/api/videos/{video_id}", timeout=30).json()["status"] == "ready"
    finally:
        _stop(third, lines)

    fresh, lines = _start(state, ports, "--fresh")
    try:
        assert any("no saved data: starting empty" in line for line in lines), "".join(lines[-30:])
        admin = requests.get(f"{cfg.gateway_url}/api/videos/{video_id}", timeout=30,
                             headers={"Authorization": f"Bearer {tokens.user_token(cfg, 'admin')}"})
        assert admin.status_code == 404, admin.text
    finally:
        _stop(fresh, lines)
