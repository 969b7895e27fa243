"""``python -m local_emulator.transcoder --host 127.0.0.1 --port P``

Reads STORAGE_EMULATOR_HOST (required by jobs) and PUBSUB_EMULATOR_HOST (for pubsubDestination notices).
``--secrets-dir DIR`` (or TRANSCODER_SECRETS_DIR) stands in for Secret Manager: the payload of the secret version
``projects/P/secrets/S/versions/N`` that JobConfig.encryptions name is the file ``DIR/projects/P/secrets/S/versions/N``
(docs/local-transcoder-encryption.md).
Prints ``transcoder listening on http://HOST:PORT`` once ready; SIGTERM/SIGINT stop it and kill running ffmpeg.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from .app import TranscoderEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_emulator.transcoder", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("TRANSCODER_WORKERS", "1")),
                        help="jobs run at once (default 1)")
    parser.add_argument("--job-timeout", type=float, default=float(os.environ.get("TRANSCODER_JOB_TIMEOUT", "3600")),
                        help="seconds before a job's ffmpeg is killed and the job FAILED")
    parser.add_argument("--missing-audio", choices=("skip", "fail"), default="skip",
                        help="input without audio: leave the audio streams out (default) or fail the job")
    parser.add_argument("--min-input-seconds", type=float,
                        default=float(os.environ.get("TRANSCODER_MIN_INPUT_SECONDS", "5")),
                        help="inputs shorter than this FAIL, as on the real API (documented minimum: 5 s)")
    parser.add_argument("--work-dir", default=None, help="where temporary job folders go (default: system temp)")
    parser.add_argument("--secrets-dir", default=os.environ.get("TRANSCODER_SECRETS_DIR") or None,
                        help="Secret Manager stand-in for encryption keys: DIR/projects/P/secrets/S/versions/N")
    parser.add_argument("--log-level", default=os.environ.get("TRANSCODER_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.secrets_dir:  # read by each job's encryption step (runner.JobRunner.secrets unset)
        os.environ["TRANSCODER_SECRETS_DIR"] = os.path.abspath(args.secrets_dir)
    emulator = TranscoderEmulator(args.host, args.port, workers=args.workers, job_timeout=args.job_timeout,
                                  missing_audio=args.missing_audio, min_input_seconds=args.min_input_seconds,
                                  work_dir=args.work_dir)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    emulator.start()
    print(f"transcoder listening on {emulator.url}", flush=True)
    stop.wait()
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
