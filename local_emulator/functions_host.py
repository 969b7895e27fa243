"""Every function of the function list in one WSGI app, each mounted at ``/<name>`` through functions-framework.

Each mount is ``functions_framework.create_app(target=<entry point>, source=functions/main.py, signature_type)``,
the same app the cloud runtime builds, so HTTP and CloudEvent decoding are the framework's own. gunicorn runs
several worker processes, as the cloud runs several instances: no state may live in a function's memory.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import functions_framework
from functions_framework.exceptions import MissingTargetException
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request, Response

REPO = Path(__file__).resolve().parent.parent
MAIN = REPO / "functions" / "main.py"
sys.path[:0] = [str(REPO), str(REPO / "functions")]

from kstream.registry import function_list  # noqa: E402


def _health(environ: dict[str, object], start_response: object) -> object:
    request = Request(environ)
    if request.path in ("/_healthz", "/"):
        return Response("ok")(environ, start_response)
    name = request.path.strip("/").split("/")[0]
    body = {"error": {"code": "SYSTEM_UNAVAILABLE", "message": f"function {name!r} is not deployed (main.py has no "
                      "entry point for it)", "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                      "requestId": request.headers.get("X-Request-ID", "none")}}
    return Response(json.dumps(body), status=503, mimetype="application/json")(environ, start_response)


def build_app() -> DispatcherMiddleware:
    mounts = {}
    for spec in function_list().functions:
        signature = "http" if spec.http else "cloudevent"
        try:
            mounts[f"/{spec.name}"] = functions_framework.create_app(
                target=spec.entry_point, source=str(MAIN), signature_type=signature
            )
        except MissingTargetException:
            print(f"functions host: {spec.name}: main.py has no entry point {spec.entry_point!r}", file=sys.stderr)
    return DispatcherMiddleware(_health, mounts)


app = build_app()
