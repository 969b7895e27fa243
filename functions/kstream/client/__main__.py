"""``python -m kstream.client upload FILE --series S --episode N --title T``: upload one episode.

    upload FILE ... [--subtitle en=ep3.en.srt --subtitle ko=ep3.ko.smi] [--default-subtitle ko] [--wait]
    subtitles list VIDEO_ID
    subtitles add VIDEO_ID LANGUAGE FILE [--label L] [--kind captions] [--default]
    subtitles delete VIDEO_ID LANGUAGE

The API and token come from ``--api`` / ``--token`` or ``KSTREAM_API`` / ``KSTREAM_TOKEN`` (``make token
ROLE=uploader`` prints one for the local cloud). Progress goes to stderr; the video id is printed on stdout.
Exit codes: 0 done, 1 refused or failed (with ``--wait``: the video failed, and why is printed), 2 bad arguments,
130 interrupted (run the same command to resume).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

from .api import ApiError, UploadApi
from .uploader import CHUNK_CHECKSUMS, Interrupted, SubtitleFile, Uploader, UploadFailed

MIB = 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m kstream.client", description="kstream uploader")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upload", help="upload one episode (resumes an interrupted upload of the same file)")
    up.add_argument("file", type=Path)
    up.add_argument("--series", required=True)
    up.add_argument("--episode", required=True, type=int)
    up.add_argument("--title", help="episode title (default: the file name without extension)")
    up.add_argument("--description")
    up.add_argument("--language", default="ko", help="BCP 47 tag of the audio (default ko)")
    up.add_argument("--subtitle", action="append", default=[], metavar="LANG=FILE",
                    help="attach a subtitle file (.srt .vtt .ass .ssa .smi, any encoding) in language LANG (BCP 47); "
                    "repeat for more languages")
    up.add_argument("--default-subtitle", metavar="LANG", help="the track players select by default")
    up.add_argument("--wait", action="store_true",
                    help="wait until the video is ready or failed; print why it failed")
    up.add_argument("--tags", help="comma-separated")
    up.add_argument("--parallel", type=int, default=4, help="chunks in flight (default 4)")
    up.add_argument("--chunk-size", type=int, metavar="MIB",
                    help="chunk size in MiB (default: at most 32 chunks, 5 to 64 MiB each)")
    up.add_argument("--checksum", choices=("crc32c", "md5", "sha256"), default="crc32c",
                    help="whole-file checksum sent to complete (default crc32c: storage computes it for free)")
    up.add_argument("--chunk-checksums", choices=CHUNK_CHECKSUMS, default="header",
                    help="per-chunk MD5: sent as Content-MD5 with each PUT, computed while uploading (header, the "
                    "default); declared at start and bound into the signed URLs, after one read of the file "
                    "(bound); none (off)")
    up.add_argument("--no-chunk-checksums", dest="chunk_checksums", action="store_const", const="off",
                    help="same as --chunk-checksums off")
    up.add_argument("--via-api", action="store_true",
                    help="send chunks through the API's chunk endpoint instead of straight to storage")
    up.add_argument("--state-dir", type=Path, help="where resume state lives (default ~/.kstream/uploads)")
    up.add_argument("--quiet", action="store_true", help="no progress line")
    subs = commands.add_parser("subtitles", help="list, add or delete a video's subtitle tracks")
    subs.add_argument("action", choices=("list", "add", "delete"))
    subs.add_argument("video_id")
    subs.add_argument("language", nargs="?")
    subs.add_argument("file", nargs="?", type=Path)
    subs.add_argument("--label")
    subs.add_argument("--kind", choices=("subtitles", "captions"), default="subtitles")
    subs.add_argument("--default", action="store_true")
    for command in (up, subs):
        command.add_argument("--api", default=os.environ.get("KSTREAM_API", "http://127.0.0.1:8080"),
                             help="API base URL (env KSTREAM_API; default the local cloud)")
        command.add_argument("--token", default=os.environ.get("KSTREAM_TOKEN"),
                             help="bearer token (env KSTREAM_TOKEN)")
    return parser


def _metadata(args: argparse.Namespace) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "title": args.title or args.file.stem,
        "series": args.series,
        "episode": args.episode,
        "language": args.language,
    }
    if args.description:
        metadata["description"] = args.description
    if args.tags:
        metadata["tags"] = [item.strip() for item in args.tags.split(",") if item.strip()]
    return metadata


def _subtitle_files(args: argparse.Namespace) -> list[SubtitleFile]:
    """``--subtitle LANG=FILE`` options; ValueError naming the bad one."""
    files = []
    for option in args.subtitle:
        language, sep, path = option.partition("=")
        if not sep or not language.strip() or not path.strip():
            raise ValueError(f"--subtitle {option!r}: expected LANG=FILE, e.g. en=ep3.en.srt")
        if not Path(path).is_file():
            raise ValueError(f"--subtitle {option!r}: {path}: no such file")
        language = language.strip()
        files.append(SubtitleFile(language, Path(path), default=language == args.default_subtitle))
    return files


def _wait_for_video(api: UploadApi, video_id: str, *, timeout: float = 3600.0) -> int:
    """Poll the video until it is ready or failed; print the outcome. 0 ready, 1 failed or still processing."""
    deadline = time.monotonic() + timeout
    while True:
        video = api.video(video_id)
        status = video.get("status")
        if status == "ready":
            languages = ", ".join(video.get("subtitles") or []) or "none"
            print(f"video {video_id} is ready: {', '.join(video.get('availableQualities') or [])}; subtitles: "
                  f"{languages}", file=sys.stderr)
            for track in api.subtitles(video_id)["tracks"]:
                if track["status"] == "rejected":
                    print(f"  {track['language']} subtitles rejected: {track.get('reason')}", file=sys.stderr)
            return 0
        if status == "failed":
            print(f"video {video_id} failed: {video.get('failureReason') or 'no reason recorded'}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"video {video_id} is still {status} after {timeout:.0f} s", file=sys.stderr)
            return 1
        time.sleep(2)


def _subtitles_command(args: argparse.Namespace) -> int:
    api = UploadApi(args.api, args.token)
    try:
        if args.action == "list":
            for track in api.subtitles(args.video_id)["tracks"]:
                flags = " default" if track["default"] else ""
                print(f"{track['language']}\t{track['label']}\t{track['kind']}\t{track['status']}\t"
                      f"{track['cueCount']} cues{flags}")
            return 0
        if not args.language:
            print(f"subtitles {args.action}: give the LANGUAGE", file=sys.stderr)
            return 2
        if args.action == "delete":
            api.delete_subtitle(args.video_id, args.language)
            print(f"deleted the {args.language} subtitles of video {args.video_id}", file=sys.stderr)
            return 0
        if args.file is None or not args.file.is_file():
            print("subtitles add: give an existing subtitle FILE", file=sys.stderr)
            return 2
        item = SubtitleFile(args.language, args.file, args.label, args.kind, args.default)
        track = api.put_subtitle(args.video_id, args.language, item.body())
        print(f"{track['language']} ({track['label']}): {track['cueCount']} cues, {track['status']}",
              file=sys.stderr)
        return 0
    except (ApiError, UploadFailed) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.token:
        print("no token: pass --token or set KSTREAM_TOKEN (locally: make token ROLE=uploader)", file=sys.stderr)
        return 2
    if args.command == "subtitles":
        return _subtitles_command(args)
    try:
        subtitles = _subtitle_files(args)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not args.file.is_file():
        print(f"{args.file}: no such file", file=sys.stderr)
        return 2
    uploader = Uploader(
        UploadApi(args.api, args.token),
        parallel=args.parallel,
        chunk_size=args.chunk_size * MIB if args.chunk_size else None,
        final_algorithm=args.checksum,
        chunk_checksums=args.chunk_checksums,
        via_api=args.via_api,
        state_dir=args.state_dir,
        show_progress=not args.quiet,
        log=lambda message: print(message, file=sys.stderr),
    )
    stop = threading.Event()

    def interrupt(_signum: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now
            os._exit(130)
        print("\nstopping after the chunks in flight (Ctrl-C again to leave now)...", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, interrupt)
    try:
        result = uploader.upload(args.file, _metadata(args), stop=stop, subtitles=subtitles)
    except Interrupted as exc:
        print(f"\ninterrupted: {exc}", file=sys.stderr)
        return 130
    except (UploadFailed, ApiError) as exc:
        print(f"\nupload failed: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:
        print(f"\ncannot reach the API: {exc}; run the same command again to resume", file=sys.stderr)
        return 1
    resumed = " (resumed)" if result.resumed else ""
    print(f"uploaded {args.file.name} in {result.seconds:.1f}s{resumed}: video {result.video_id}, "
          f"transcoding job {result.transcoding_job_id}", file=sys.stderr)
    print(result.video_id)
    if args.wait:
        return _wait_for_video(UploadApi(args.api, args.token), result.video_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
