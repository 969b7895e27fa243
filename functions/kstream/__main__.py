"""Admin commands: ``python -m kstream set-role EMAIL ROLE``, ``settings-table``, ``bundle DIR``.

``set-role`` works against the project in ``KSTREAM_PROJECT_ID`` with Application Default Credentials, or against
the Auth emulator when ``FIREBASE_AUTH_EMULATOR_HOST`` is set (the README shows the local command; the user must
exist). The new role reaches the user's ID token at its next refresh (at most an hour; signing in again is
immediate).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .auth import ROLES
from .errors import KstreamError

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent
BUNDLE_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "tests", ".pytest_cache")


def _set_role(args: argparse.Namespace) -> int:
    from firebase_admin import exceptions as fb_exceptions

    from .adapters import firebase_auth
    from .settings import get_settings

    try:
        uid = firebase_auth.set_role(args.email, args.role, get_settings())
    except fb_exceptions.NotFoundError:
        print(f"no user with email {args.email}", file=sys.stderr)
        return 1
    print(f"{args.email} ({uid}) is now {args.role}")
    return 0


README_START = "<!-- settings-table:start -->"
README_END = "<!-- settings-table:end -->"


def settings_table() -> str:
    from .settings import Settings, env_variable

    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        if field.is_required():
            default = "(required)"
        elif field.default_factory is not None:
            value = field.default_factory()  # type: ignore[call-arg]
            default = f"`{','.join(value)}`" if value else "(empty)"
        else:
            default = f"`{field.default}`" if field.default not in ("", None) else "(empty)"
        rows.append(f"| `{env_variable(name)}` | {default} | {field.description} |")
    return "\n".join(rows) + "\n"


def readme_with_settings(readme: str) -> str:
    """The README text with its settings table replaced by the current one."""
    head, _, rest = readme.partition(README_START)
    _, _, tail = rest.partition(README_END)
    return f"{head}{README_START}\n{settings_table()}{README_END}{tail}"


def _settings_table(args: argparse.Namespace) -> int:
    if args.readme:
        path = Path(args.readme)
        path.write_text(readme_with_settings(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(settings_table(), end="")
    return 0


def build_bundle(target: Path) -> Path:
    """The deployment bundle: main.py, the kstream package, contracts/ and the function list, in one folder."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(FUNCTIONS_DIR / "main.py", target / "main.py")
    shutil.copy2(FUNCTIONS_DIR / "requirements.txt", target / "requirements.txt")
    shutil.copy2(FUNCTIONS_DIR / "functions.yaml", target / "functions.yaml")
    shutil.copytree(FUNCTIONS_DIR / "kstream", target / "kstream", ignore=BUNDLE_IGNORE)
    shutil.copytree(FUNCTIONS_DIR.parent / "contracts", target / "contracts", ignore=BUNDLE_IGNORE)
    return target


def _bundle(args: argparse.Namespace) -> int:
    print(build_bundle(Path(args.target)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kstream", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    role = commands.add_parser("set-role", help="give a Firebase user a role (custom claim)")
    role.add_argument("email")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(run=_set_role)
    table = commands.add_parser("settings-table", help="print the README's settings table")
    table.add_argument("--readme", help="rewrite the table inside this README instead of printing it")
    table.set_defaults(run=_settings_table)
    bundle = commands.add_parser("bundle", help="build the deployment bundle into a folder")
    bundle.add_argument("target")
    bundle.set_defaults(run=_bundle)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except KstreamError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
