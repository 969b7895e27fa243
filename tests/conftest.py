"""Shared fixtures. Test levels live in folders: tests/unit (no processes), tests/emulator (the local cloud's
real emulators and functions over real connections), tests/e2e (a user's whole path through the gateway).

One local cloud serves the whole session (``local_cloud``); tests isolate themselves by unique names (uuid),
never by restarting it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

from local_emulator.stack import LocalCloud, StackConfig  # noqa: E402


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    """The whole local cloud on free ports, started once per session and stopped at its end."""
    state_dir = tmp_path_factory.mktemp("local-cloud")
    # Test sources are 2-4 s clips; the local Transcoder enforces Google's 5 s minimum unless told otherwise
    # (its own tests prove the rule).
    cfg = StackConfig.ephemeral(state_dir, transcoder_min_input_seconds=1.0)
    log_path = state_dir / "stack.log"
    with log_path.open("w") as log:
        cloud = LocalCloud(cfg, log=log, colour=False)
        try:
            cloud.start()
        except Exception:
            log.flush()
            sys.stderr.write(log_path.read_text()[-6000:])
            raise
        previous = {k: os.environ.get(k) for k in cfg.emulator_env()}
        os.environ.update({k: v for k, v in cfg.emulator_env().items() if k != "FIREBASE_AUTH_EMULATOR_HOST"})
        try:
            yield cfg
        finally:
            cloud.stop()
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]
