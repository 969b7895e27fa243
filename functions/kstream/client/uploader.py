"""Upload one episode: start -> parallel chunk PUTs straight to storage -> complete.

Chunk size: unless told otherwise, the smallest multiple of 256 KiB (at least 5 MiB, at most 64 MiB) that cuts
the file into at most 32 chunks, so ``complete`` composes it in a single call (any episode up to the 2 GiB limit).

Checksums (``chunk_checksums``):
    header  (default) each chunk's MD5 is computed when the chunk is read for its PUT and sent as Content-MD5, so
            storage refuses a chunk that arrives different; nothing is read before the first byte goes out. The
            file's CRC32C (finalChecksum) is combined from the chunks' CRCs computed in the same pass.
    bound   one read of the file before ``start`` declares every chunk's MD5 (chunkChecksums): the API binds each
            into its signed URL and checks the stored chunks against them at complete.
    off     no per-chunk MD5; the finalChecksum still covers the whole file.

Resumable: right after start, the session (uploadId, the signed URLs and the headers they bind) is saved in a state
file keyed by the file's path, size, mtime, the API and the episode. Running the same upload again, after Ctrl-C, a
dropped connection or a crash, asks the API which chunks storage already holds and sends only the others. The
state file is removed once the upload is complete (or unusable: expired, gone).

Memory: at most ``parallel`` chunks at a time (each PUT body is written in 1 MiB pieces, so a slow link times out
per piece, not per chunk). Each chunk PUT is retried with exponential backoff on connection
errors, timeouts, 408, 429 and 5xx; other refusals stop the upload with the storage or API error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from .api import ApiError, UploadApi
from .checksums import chunk_sums, combine_crc32c, file_checksums, span_crc32c, whole_digest
from .progress import Progress

MIB = 1024 * 1024
DEFAULT_CHUNK_SIZE = 5 * MIB  # the API's default, and the smallest chunk the uploader picks by itself
MAX_AUTO_CHUNK_SIZE = 64 * MIB
MAX_API_CHUNK_SIZE = 16 * MIB  # the chunk endpoint's limit (contracts.upload.MAX_API_CHUNK_SIZE)
CHUNK_ALIGNMENT = 256 * 1024
SINGLE_COMPOSE_CHUNKS = 32  # Cloud Storage composes at most 32 sources per call
CHUNK_CHECKSUMS = ("header", "bound", "off")
_SEND_PIECE = MIB
DEFAULT_STATE_DIR = Path.home() / ".kstream" / "uploads"
STATE_VERSION = 1
_RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
_EXPIRY_MARGIN = timedelta(minutes=5)
_PUT_TIMEOUT = (10, 300)


def auto_chunk_size(total_size: int, *, via_api: bool = False) -> int:
    """The chunk size the uploader picks: the smallest multiple of 256 KiB, at least 5 MiB, that cuts
    ``total_size`` into at most 32 chunks (one compose call at complete), capped at 64 MiB (16 MiB through the chunk
    endpoint). 1 GiB: 32 chunks of 32 MiB; 2 GiB: 32 of 64 MiB; 100 MiB: 20 of 5 MiB."""
    per_chunk = -(-total_size // SINGLE_COMPOSE_CHUNKS)
    aligned = -(-per_chunk // CHUNK_ALIGNMENT) * CHUNK_ALIGNMENT
    return min(max(aligned, DEFAULT_CHUNK_SIZE), MAX_API_CHUNK_SIZE if via_api else MAX_AUTO_CHUNK_SIZE)


class _Body:
    """A chunk as a PUT body of known length, handed to the socket in 1 MiB pieces: each piece gets the socket
    timeout, where one ``sendall`` of a 64 MiB chunk would have to finish within it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[memoryview]:
        view = memoryview(self.data)
        for start in range(0, len(view), _SEND_PIECE):
            yield view[start:start + _SEND_PIECE]


class UploadFailed(Exception):
    """The upload cannot go on; the message says why and what to do."""


class Interrupted(Exception):
    """Stopped on request (Ctrl-C); the same upload resumes when run again."""


@dataclass
class UploadResult:
    upload_id: str
    video_id: str
    transcoding_job_id: str | None
    total_chunks: int
    chunks_sent: int
    bytes_sent: int
    resumed: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Session:
    """What the state file holds about one upload session."""

    upload_id: str
    chunk_size: int
    total_chunks: int
    chunk_urls: list[str]
    required_headers: list[dict[str, str]]
    expires_at: str
    final_checksum: str  # empty until known when chunk checksums are computed while uploading
    video_id: str = ""  # from start (older state files lack it)

    def expired(self, now: datetime) -> bool:
        return datetime.fromisoformat(self.expires_at.replace("Z", "+00:00")) - _EXPIRY_MARGIN <= now


class StateFile:
    """The resume record of one (file, API, episode), written atomically and readable only by its owner."""

    def __init__(self, directory: Path, key: str) -> None:
        self.path = directory / f"{key}.json"

    def load(self) -> _Session | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                return None
            return _Session(**data["session"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, session: _Session, about: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # signed URLs are capabilities
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": STATE_VERSION, "about": about, "session": session.__dict__}, handle)
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def state_key(path: Path, size: int, mtime_ns: int, api: str, metadata: dict[str, Any]) -> str:
    ident = "\0".join([str(path.resolve()), str(size), str(mtime_ns), api.rstrip("/"),
                       str(metadata.get("series")), str(metadata.get("episode"))])
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


class Uploader:
    def __init__(
        self,
        api: UploadApi,
        *,
        parallel: int = 4,
        chunk_size: int | None = None,
        final_algorithm: str = "crc32c",
        chunk_checksums: str = "header",
        via_api: bool = False,
        state_dir: Path | None = None,
        session_factory: Callable[[], requests.Session] = requests.Session,
        attempts: int = 6,
        backoff_seconds: float = 0.5,
        show_progress: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if final_algorithm not in ("crc32c", "md5", "sha256"):
            raise ValueError(f"final_algorithm must be crc32c, md5 or sha256, not {final_algorithm!r}")
        if chunk_checksums not in CHUNK_CHECKSUMS:
            raise ValueError(f"chunk_checksums must be one of {', '.join(CHUNK_CHECKSUMS)}, not {chunk_checksums!r}")
        self.api = api
        self.parallel = max(1, parallel)
        self.chunk_size = chunk_size  # None: auto_chunk_size(file size)
        self.final_algorithm = final_algorithm
        self.chunk_checksums = chunk_checksums
        self.via_api = via_api
        self.state_dir = state_dir or Path(os.environ.get("KSTREAM_STATE_DIR", DEFAULT_STATE_DIR))
        self.session_factory = session_factory
        self.attempts = max(1, attempts)
        self.backoff = backoff_seconds
        self.show_progress = show_progress
        self.log = log or (lambda message: None)
        self._local = threading.local()

    # -- the whole upload -----------------------------------------------------------------------------------
    def upload(self, path: str | Path, metadata: dict[str, Any], *, stop: threading.Event | None = None,
               on_chunk: Callable[[int], None] | None = None,
               subtitles: Sequence[SubtitleFile] = ()) -> UploadResult:
        """Upload ``path`` with ``metadata`` (title, series, episode, ...); resumes a saved session if any.

        ``subtitles`` are attached after the chunks and before complete, so the Transcoder job carries them; a
        refused subtitle file ends the upload with UploadFailed naming the file and line (run again after fixing
        it: the chunks are kept). ``stop`` set (by a signal handler or a test) ends the upload with Interrupted
        after the chunks in flight; ``on_chunk(index)`` is called after each chunk is stored.
        """
        started = time.monotonic()
        timings: dict[str, float] = {}
        stop = stop or threading.Event()
        file = Path(path)
        stat = file.stat()
        if stat.st_size == 0:
            raise UploadFailed(f"{file} is empty")
        state = StateFile(self.state_dir, state_key(file, stat.st_size, stat.st_mtime_ns, self.api.base, metadata))
        session, todo, resumed = self._resume(state)
        if session is not None and todo is None:  # completed earlier
            assert session is not None
            self._final_checksum(file, stat.st_size, session, {}, None, timings)
            self._attach(session, subtitles)
            done = self._finish(session, state, file, stop, on_chunk, timings, [])
            return self._result(session, done, 0, 0, True, started, timings)
        if session is None:
            session = self._start(file, stat.st_size, metadata, state, timings)
            todo = list(range(session.total_chunks))
            resumed = False
        assert todo is not None
        progress = Progress(stat.st_size, file.name, enabled=self.show_progress)
        progress.start_at(stat.st_size - sum(self._chunk_length(session, stat.st_size, i) for i in todo))
        crcs: dict[int, int] = {}
        whole: Future[str] | None = None
        digest_pool: ThreadPoolExecutor | None = None
        abandon = threading.Event()
        if not session.final_checksum and self.final_algorithm != "crc32c":  # one ordered read, beside the PUTs
            digest_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest")
            whole = digest_pool.submit(self._whole_digest, file, stat.st_size, abandon)
        try:
            clock = time.monotonic()
            sent_bytes = self._send(file, stat.st_size, session, todo, progress, stop, on_chunk, crcs)
            timings["chunks"] = time.monotonic() - clock
            self._final_checksum(file, stat.st_size, session, crcs, whole, timings)
        finally:
            abandon.set()  # an interrupted upload does not wait for the rest of the file to be read
            if digest_pool is not None:
                digest_pool.shutdown(wait=True, cancel_futures=True)
        state.save(session, {"file": str(file.resolve()), "size": stat.st_size, "api": self.api.base,
                             "savedAt": datetime.now(UTC).isoformat()})  # a crash after complete still has it
        self._attach(session, subtitles)
        done = self._finish(session, state, file, stop, on_chunk, timings, todo, progress)
        progress.finish(f"{file.name}: video {done['videoId']} is processing")
        return self._result(session, done, len(todo), sent_bytes, resumed, started, timings)

    def _result(self, session: _Session, done: dict[str, Any], chunks_sent: int, bytes_sent: int, resumed: bool,
                started: float, timings: dict[str, float]) -> UploadResult:
        return UploadResult(session.upload_id, str(done["videoId"]), done.get("transcodingJobId"),
                            session.total_chunks, chunks_sent, bytes_sent, resumed, time.monotonic() - started,
                            timings)

    def _resume(self, state: StateFile) -> tuple[_Session | None, list[int] | None, bool]:
        """(session, chunks still to send, resumed); todo None means the session already completed."""
        session = state.load()
        if session is None:
            return None, [], False
        if session.expired(datetime.now(UTC)):
            self.log(f"saved upload {session.upload_id} has expired; starting over")
            state.remove()
            return None, [], False
        try:
            status = self.api.status(session.upload_id)
        except ApiError as exc:
            if exc.code in ("UPLOAD_NOT_FOUND", "UPLOAD_EXPIRED"):
                self.log(f"saved upload {session.upload_id} is gone ({exc.code}); starting over")
                state.remove()
                return None, [], False
            raise
        if status["status"] == "completed":
            return session, None, True
        if status["status"] in ("expired", "failed"):
            state.remove()
            return None, [], False
        missing = [int(i) for i in status["missingChunks"]]
        self.log(f"resuming upload {session.upload_id}: {len(missing)} of {session.total_chunks} chunks to send")
        return session, missing, True

    def _start(self, file: Path, size: int, metadata: dict[str, Any], state: StateFile,
               timings: dict[str, float]) -> _Session:
        chunk_size = self.chunk_size or auto_chunk_size(size, via_api=self.via_api)
        final = ""
        body: dict[str, Any] = {"filename": file.name, "totalSize": size, "chunkSize": chunk_size,
                                "metadata": metadata}
        if self.chunk_checksums == "bound":  # the MD5s go into start: one read of the file first
            clock = time.monotonic()
            sums = file_checksums(str(file), size, chunk_size, self.final_algorithm,
                                  threads=min(4, os.cpu_count() or 2))
            timings["checksums"] = time.monotonic() - clock
            body["chunkChecksums"] = sums.chunk_md5s
            final = sums.final
        clock = time.monotonic()
        started = self.api.start(body)
        timings["start"] = time.monotonic() - clock
        session = _Session(
            upload_id=started["uploadId"],
            chunk_size=int(started["chunkSize"]),
            total_chunks=len(started["chunkUrls"]),
            chunk_urls=list(started["chunkUrls"]),
            required_headers=list(started.get("requiredHeaders") or [{} for _ in started["chunkUrls"]]),
            expires_at=started["expiresAt"],
            final_checksum=final,
            video_id=str(started.get("videoId") or ""),
        )
        state.save(session, {"file": str(file.resolve()), "size": size, "api": self.api.base,
                             "savedAt": datetime.now(UTC).isoformat()})
        self.log(f"started upload {session.upload_id}: {session.total_chunks} chunks of {session.chunk_size} bytes")
        return session

    # -- chunks -------------------------------------------------------------------------------------------------
    @staticmethod
    def _chunk_length(session: _Session, size: int, index: int) -> int:
        return min(session.chunk_size, size - index * session.chunk_size)

    def _send(self, file: Path, size: int, session: _Session, todo: list[int], progress: Progress,
              stop: threading.Event, on_chunk: Callable[[int], None] | None,
              crcs: dict[int, int] | None = None) -> int:
        """PUT the ``todo`` chunks; each chunk's CRC32C goes into ``crcs``."""
        if not todo:
            return 0
        fd = os.open(file, os.O_RDONLY)
        sent = [0]
        lock = threading.Lock()

        def one(index: int) -> None:
            if stop.is_set():
                return
            offset = index * session.chunk_size
            length = self._chunk_length(session, size, index)
            data = os.pread(fd, length, offset)
            if len(data) != length:
                raise UploadFailed(f"{file} shrank while uploading it; run again to start over")
            header_md5 = (self.chunk_checksums == "header" and not self.via_api  # the endpoint takes its own
                          and "Content-MD5" not in session.required_headers[index])
            md5, crc = chunk_sums(data, with_md5=header_md5)
            self._send_chunk(session, index, data, stop,
                             content_md5=base64.b64encode(md5).decode() if header_md5 else None)
            progress.advance(len(data))
            with lock:
                sent[0] += len(data)
                if crcs is not None:
                    crcs[index] = crc
            if on_chunk:
                on_chunk(index)

        pool = ThreadPoolExecutor(max_workers=min(self.parallel, len(todo)), thread_name_prefix="chunk")
        futures: list[Future[None]] = [pool.submit(one, index) for index in todo]
        try:
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                for future in finished:
                    future.result()  # the first failure stops the upload
                if stop.is_set():
                    break
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            os.close(fd)
            raise
        pool.shutdown(wait=True, cancel_futures=True)
        os.close(fd)
        if stop.is_set():
            raise Interrupted(f"upload {session.upload_id} stopped; run the same command again to resume")
        return sent[0]

    def _http(self) -> requests.Session:
        found = getattr(self._local, "session", None)
        if found is None:
            found = self._local.session = self.session_factory()
        return found

    def _send_chunk(self, session: _Session, index: int, data: bytes, stop: threading.Event,
                    content_md5: str | None = None) -> None:
        """One chunk, retried; ``content_md5`` (base64) is sent as Content-MD5 when the URL does not bind one."""
        last: str = ""
        headers = {"Content-Type": "application/octet-stream", **session.required_headers[index]}
        if content_md5 is not None:
            headers.setdefault("Content-MD5", content_md5)
        md5_hex = hashlib.md5(data).hexdigest() if self.via_api else ""  # noqa: S324
        for attempt in range(self.attempts):
            if attempt:
                delay = min(30.0, self.backoff * 2 ** (attempt - 1)) * (0.5 + random.random())
                if stop.wait(delay):
                    return
            try:
                if self.via_api:
                    self.api.chunk(session.upload_id, index, data, md5_hex, session=self._http())
                    return
                response = self._http().put(session.chunk_urls[index], data=_Body(data), headers=headers,
                                            timeout=_PUT_TIMEOUT)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{exc.__class__.__name__}: {str(exc)[:200]}"
                continue
            except ApiError as exc:
                if exc.status in _RETRY_STATUSES:
                    last = str(exc)
                    continue
                raise UploadFailed(f"chunk {index} refused by the API: {exc}") from None
            if response.ok:
                return
            if response.status_code in _RETRY_STATUSES:
                last = f"HTTP {response.status_code}"
                continue
            raise UploadFailed(_storage_refusal(index, response))
        raise UploadFailed(f"chunk {index} failed {self.attempts} times (last: {last}); run the same command "
                           "again to resume")

    # -- the whole file's checksum -------------------------------------------------------------------------------
    def _whole_digest(self, file: Path, size: int, abandon: threading.Event | None = None) -> str:
        fd = os.open(file, os.O_RDONLY)
        try:
            return whole_digest(fd, size, self.final_algorithm, abandon.is_set if abandon is not None else None)
        finally:
            os.close(fd)

    def _final_checksum(self, file: Path, size: int, session: _Session, crcs: dict[int, int],
                        whole: Future[str] | None, timings: dict[str, float]) -> None:
        """Set ``session.final_checksum`` when the start did not: from the CRCs of the chunks just sent (chunks
        an earlier run sent are read again for theirs), or the digest read beside the PUTs."""
        if session.final_checksum:
            return
        clock = time.monotonic()
        if self.final_algorithm != "crc32c":
            session.final_checksum = whole.result() if whole is not None else self._whole_digest(file, size)
        else:
            lengths = [self._chunk_length(session, size, i) for i in range(session.total_chunks)]
            earlier = [i for i in range(session.total_chunks) if i not in crcs]
            if earlier:
                fd = os.open(file, os.O_RDONLY)
                try:
                    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:
                        found = pool.map(lambda i: span_crc32c(fd, i * session.chunk_size, lengths[i]), earlier)
                        crcs.update(zip(earlier, found, strict=True))
                finally:
                    os.close(fd)
            session.final_checksum = combine_crc32c([crcs[i] for i in range(session.total_chunks)], lengths)
        timings["finalChecksum"] = time.monotonic() - clock

    # -- subtitles ----------------------------------------------------------------------------------------------
    def _attach(self, session: _Session, subtitles: Sequence[SubtitleFile]) -> None:
        if subtitles and not session.video_id:
            raise UploadFailed("this upload was started by an older client that did not record its video id: "
                               "attach the subtitles after it completes (python -m kstream.client subtitles add)")
        for item in subtitles:
            for attempt in range(6):
                try:
                    self.api.put_subtitle(session.video_id, item.language, item.body())
                    break
                except ApiError as exc:
                    if exc.status in (429, 503) and attempt < 5:
                        time.sleep(min(30, int(exc.headers.get("Retry-After", "2") or 2)))
                        continue
                    raise UploadFailed(f"subtitle {item.path.name} ({item.language}) refused: {exc.message}"
                                       ) from None
            self.log(f"attached {item.language} subtitles from {item.path.name}")

    # -- complete -----------------------------------------------------------------------------------------------
    def _finish(self, session: _Session, state: StateFile, file: Path, stop: threading.Event,
                on_chunk: Callable[[int], None] | None, timings: dict[str, float], todo: list[int],
                progress: Progress | None = None) -> dict[str, Any]:
        clock = time.monotonic()
        resent = False
        for attempt in range(6):
            try:
                done = self.api.complete(session.upload_id, session.final_checksum)
                break
            except ApiError as exc:
                if exc.code == "UPLOAD_CHUNK_MISSING" and not resent and isinstance(exc.details, dict):
                    missing = [int(i) for i in exc.details.get("missingChunks", [])]
                    self.log(f"storage lacks chunks {missing[:10]}; sending them again")
                    size = file.stat().st_size
                    self._send(file, size, session, missing, progress or Progress(size, enabled=False), stop,
                               on_chunk)  # same bytes as before: the finalChecksum stands
                    resent = True
                    continue
                if exc.status in (429, 503) and attempt < 5:
                    time.sleep(min(30, int(exc.headers.get("Retry-After", "5") or 5)))
                    continue
                if exc.code in ("UPLOAD_EXPIRED", "UPLOAD_NOT_FOUND"):
                    state.remove()
                raise UploadFailed(f"complete refused: {exc}") from None
        else:  # pragma: no cover - the loop always breaks or raises
            raise UploadFailed("complete did not succeed")
        timings["complete"] = time.monotonic() - clock
        state.remove()
        return done


@dataclass(frozen=True)
class SubtitleFile:
    """A subtitle file to attach: ``--subtitle en=ep3.en.srt``."""

    language: str
    path: Path
    label: str | None = None
    kind: str = "subtitles"
    default: bool = False

    def body(self) -> dict[str, Any]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise UploadFailed(f"cannot read subtitle file {self.path}: {exc.strerror}") from None
        body: dict[str, Any] = {"fileName": self.path.name, "content": base64.b64encode(data).decode("ascii"),
                                "kind": self.kind, "default": self.default}
        if self.label:
            body["label"] = self.label
        return body


def _storage_refusal(index: int, response: requests.Response) -> str:
    text = response.text[:400]
    if "ExpiredToken" in text:
        return f"chunk {index}: the signed URL has expired; run again to start a new upload"
    if "BadDigest" in text:
        return f"chunk {index}: storage received other bytes than the file had when the upload started " \
               "(did the file change?)"
    return f"chunk {index}: storage refused the PUT with HTTP {response.status_code}: {text}"
