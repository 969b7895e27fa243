"""A client generated from contracts/openapi.yaml meets what the document promises: schemathesis (pinned in
requirements.txt) fuzzes every operation of the local cloud through the gateway, with valid and invalid data, and
the bar is 0 server errors and 0 responses outside the document (status, content type, body schema).

Two runs share a time budget of about two minutes (CI has 2 cores): user operations with an admin's ID token (every
permission), service operations with a service identity's token. The run's JSON report is read for the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from local_emulator.stack import StackConfig
from tests.helpers import token_for

REPO = Path(__file__).resolve().parents[2]
OPENAPI = REPO / "contracts" / "openapi.yaml"
FUNCTIONS = REPO / "functions" / "functions.yaml"
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
SECONDS_PER_RUN = 55
EXAMPLES_PER_OPERATION = 40
SEED = 13
MIN_CASES_PER_RUN = 200


def _service_operations() -> list[str]:
    functions = yaml.safe_load(FUNCTIONS.read_text(encoding="utf-8"))["functions"]
    return [f["entry_point"] for f in functions if f.get("http") and f.get("access") == "service"]


def _run(cfg: StackConfig, report: Path, token: str, select: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "schemathesis.cli", "run", str(OPENAPI), "--url", cfg.gateway_url,
               "--checks", CHECKS, "--max-time", str(SECONDS_PER_RUN), "--max-examples", str(EXAMPLES_PER_OPERATION),
               "--seed", str(SEED), "--workers", "2", "--request-timeout", "30", "--no-shrink",
               "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all",
               "--header", f"Authorization: Bearer {token}", "--report", "json", "--report-json-path", str(report),
               "--output-truncate", "true", "--warnings", "off", *select]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=SECONDS_PER_RUN * 3, cwd=report.parent,
                              check=False)
    assert report.exists(), f"schemathesis wrote no report ({finished.returncode}):\n{finished.stdout[-4000:]}" \
        f"\n{finished.stderr[-2000:]}"
    return {"report": json.loads(report.read_text(encoding="utf-8")), "stdout": finished.stdout,
            "returncode": finished.returncode}


@pytest.mark.timeout(420)
def test_every_operation_keeps_the_openapi_documents_promises(local_cloud: StackConfig, tmp_path: Path) -> None:
    service_ops = _service_operations()
    runs = {
        "user operations": _run(local_cloud, tmp_path / "users.json", token_for(local_cloud, "admin"),
                                [arg for op in service_ops for arg in ("--exclude-operation-id", op)]),
        "service operations": _run(local_cloud, tmp_path / "services.json", token_for(local_cloud, "service"),
                                   [arg for op in service_ops for arg in ("--include-operation-id", op)]),
    }
    for label, run in runs.items():
        print(f"{label}: {summary(run['report'])}")
    problems = {label: run["stdout"][-6000:] for label, run in runs.items()
                if run["report"]["failures"] or _server_errors(run["report"], run["stdout"])
                or (run["returncode"] != 0 and not run["report"]["errors"])}
    assert not problems, "\n\n".join(f"== {label}\n{text}" for label, text in problems.items())
    for label, run in runs.items():  # a run that sent (almost) nothing proves nothing
        assert run["report"]["test_cases"]["generated"] >= MIN_CASES_PER_RUN, (label, summary(run["report"]))


# Where an error raised inside the tool shows itself: its generation code, hypothesis, or CPython's own parser failing
# under threads (seen in CI: "SystemError: AST constructor recursion depth mismatch" while hypothesis described a
# filter lambda). A server problem (connection, timeout, unparsable answer) carries none of these.
_TOOL_ERROR_MARKS = ("schemathesis/generation", "schemathesis/specs/openapi/coverage", "hypothesis/",
                     "AST constructor recursion depth mismatch")


def _server_errors(report: dict[str, Any], stdout: str = "") -> list[Any]:
    """Errors that concern the server (connection refused or reset, timeouts, unparsable answers). An exception
    raised inside schemathesis' own data generation (hypothesis drawing a negative example for a pattern, seen once
    in ~10 runs under load) says nothing about the API: it is printed, not counted."""
    errors = report.get("errors") or []
    tool_traceback = any(mark in stdout for mark in _TOOL_ERROR_MARKS)  # the JSON report keeps only a title
    generation = [e for e in errors if any(mark in json.dumps(e) for mark in _TOOL_ERROR_MARKS)
                  or (tool_traceback and e.get("title") == "Runtime Error")]
    for error in generation:
        print("schemathesis could not generate a case (not a server error):", json.dumps(error)[:300])
    return [e for e in errors if e not in generation]


def summary(report: dict[str, Any]) -> str:
    """The figures worth a log line: cases generated, failures, and per operation how many were accepted."""
    accepted = {operation: sum(phase["accepted"] for phase in rates.values())
                for operation, rates in report.get("valid_rates", {}).items()}
    return json.dumps({"cases": report["test_cases"], "stop": report.get("stop_reason"),
                       "seconds": round(report.get("running_time", 0)), "accepted by operation": accepted})
