"""The local gateway never reuses an upstream connection the functions host may already have closed.

gunicorn closes a keep-alive connection idle for ``--keep-alive`` seconds; a pooled connection the gateway kept
longer was reused after that, and a POST on it (``/auth/validate``) failed with ServerDisconnectedError, a 503
(issue 14, decision 0011). The pool's idle bound must stay under gunicorn's."""

from __future__ import annotations

import re
from pathlib import Path

from gunicorn.config import Config

from local_emulator import gateway

STACK = Path(gateway.__file__).with_name("stack.py")


def functions_host_keep_alive() -> float:
    """The functions host's --keep-alive: the stack's command line, else gunicorn's default."""
    given = re.search(r'"--keep-alive",\s*"?(\d+(?:\.\d+)?)', STACK.read_text())
    return float(given.group(1)) if given else float(Config().keepalive)


def test_the_gateway_drops_idle_upstream_connections_before_gunicorn_closes_them() -> None:
    assert 0 < gateway.UPSTREAM_IDLE_SECONDS < functions_host_keep_alive()

