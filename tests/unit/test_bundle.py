"""The deployment bundle is self-contained: main.py imports with nothing but the bundle on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kstream.__main__ import build_bundle
from kstream.registry import function_list


def test_bundle_holds_everything_main_imports(tmp_path: Path) -> None:
    bundle = build_bundle(tmp_path / "bundle")
    for needed in ("main.py", "requirements.txt", "functions.yaml", "kstream/http.py", "contracts/errors.py",
                   "contracts/openapi.yaml"):
        assert (bundle / needed).exists(), needed
    assert not list(bundle.rglob("__pycache__"))
    entry_points = [spec.entry_point for spec in function_list().functions]
    code = (
        "import sys, main\n"
        f"missing = [e for e in {entry_points!r} if not callable(getattr(main, e, None))]\n"
        "assert not missing, missing\n"
        "import kstream.api.auth_validate, contracts.envelope\n"
        "modules = (main, kstream.api.auth_validate, contracts.envelope)\n"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["KSTREAM_PROJECT_ID"] = "demo-bundle"
    result = subprocess.run([sys.executable, "-c", code, str(bundle)], cwd=bundle, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
