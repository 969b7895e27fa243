"""``python -m local_emulator up`` runs the local cloud until Ctrl-C; ``token`` mints a bearer token for it."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .processes import StartupError
from .stack import DEFAULT_STATE_DIR, LocalCloud, StackConfig


def _up(args: argparse.Namespace) -> int:
    cfg = StackConfig.from_env()
    cfg.state_dir = str(args.state_dir)
    cloud = LocalCloud(cfg)

    def _stop(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Both explicit: a shell script or CI job that starts us in the background leaves SIGINT ignored, and Python
    # then installs no Ctrl-C handler of its own.
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        cloud.start(fresh=args.fresh)
        if args.seed:
            from . import seed

            seed.seed_sample(cfg, cloud.supervisor.say)  # keeps the episodes a kept catalogue already has
        print(f"READY {cfg.gateway_url}", flush=True)
        while not cloud.stopped.wait(1):  # a dead service is restarted; this ends only if one keeps dying
            pass
        cloud.supervisor.say("stack", cloud.supervisor.gave_up or "stopped")
        return 1
    except StartupError as exc:
        print(f"local cloud failed to start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        ours = cloud.supervisor.owns_state  # a refused second start has nothing of its own to stop
        cloud.stop()
        if ours:
            print("local cloud stopped", flush=True)


def _token(args: argparse.Namespace) -> int:
    from . import tokens

    try:
        cfg = StackConfig.read(args.state_dir)
        token = tokens.service_token(cfg) if args.role == "service" else tokens.user_token(cfg, args.role, args.email)
    except FileNotFoundError as exc:  # no stack was ever started from this state dir
        print(exc, file=sys.stderr)
        return 1
    except OSError as exc:  # described, but not running (URLError: connection refused)
        print(f"the local cloud of {args.state_dir} is not running ({exc}): start it with `make dev`", file=sys.stderr)
        return 1
    print(token)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_emulator", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the whole local cloud; Ctrl-C stops every process")
    up.add_argument("--no-seed", dest="seed", action="store_false", help="skip the sample series")
    up.add_argument("--fresh", action="store_true",
                    help="start empty: delete the data kept from earlier runs (.local/data) first")
    up.set_defaults(run=_up)
    token = commands.add_parser("token", help="print a bearer token for the running local cloud")
    token.add_argument("--role", choices=["user", "uploader", "admin", "service"], default="user")
    token.add_argument("--email", default=None, help="user email (default: <role>@kstream.local)")
    token.set_defaults(run=_token)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
