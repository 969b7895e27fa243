"""The one settings object, read once from the environment (prefix ``KSTREAM_``).

Every knob of every function is a field here with its default and meaning; the README's settings table is
generated from these descriptions (``python -m kstream settings-table``). A bad value is a clear error at start-up
(:class:`kstream.errors.ConfigurationError`), never a ``KeyError`` inside a request. Tests build their own
``Settings(...)`` instead of patching the environment.

The Google client libraries read their own emulator variables (``FIRESTORE_EMULATOR_HOST``,
``PUBSUB_EMULATOR_HOST``, ``STORAGE_EMULATOR_HOST``, ``FIREBASE_AUTH_EMULATOR_HOST``); the local stack sets them.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError

GOOGLE_OIDC_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_OIDC_ISSUERS = ("https://accounts.google.com", "accounts.google.com")


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


ENV_PREFIX = "KSTREAM_"


def env_variable(field: str) -> str:
    """The environment variable of a settings field: ``project_id`` -> ``KSTREAM_PROJECT_ID``."""
    return ENV_PREFIX + field.upper()


class Settings(BaseModel):
    """Everything a kstream function may be configured with.

    A plain model filled from ``KSTREAM_<FIELD>`` variables by :meth:`from_environment` (pydantic-settings did the
    same and cost every cold start ~80 ms of imports: asyncio, dotenv, cloud secret providers).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_id: str = Field(
        description="Google Cloud project id; also the Firebase project whose ID tokens are accepted. "
        "Local runs use a demo-* id so nothing can reach a real project.",
        min_length=1,
    )
    region: str = Field("asia-northeast3", description="Region of the functions and buckets.")
    debug: bool = Field(False, description="Put exception details in error bodies. Never in production.")
    log_level: str = Field("INFO", description="Lowest severity written to the structured log.")
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1024,
        description="Largest JSON request body accepted (bytes); chunk uploads have their own bound.",
    )

    upload_bucket: str = Field("kstream-uploads", description="Bucket receiving upload chunks (lifecycle-cleaned).")
    source_bucket: str = Field("kstream-sources", description="Bucket of composed source videos; its "
                               "finalize events start transcoding.")
    media_bucket: str = Field("kstream-media", description="Bucket of transcoded renditions, behind Cloud CDN.")

    storage_public_url: str = Field(
        "https://storage.googleapis.com",
        description="Scheme and host clients use for signed storage URLs (locally the gateway's storage front).",
    )
    signer_email: str = Field(
        "",
        description="Service account that signs V4 URLs through IAM signBlob (empty: the runtime's own account).",
    )
    signing_key_file: str = Field(
        "",
        description="Local only: a service-account JSON key used to sign URLs instead of IAM signBlob.",
    )

    transcoder_location: str = Field("asia-northeast3", description="Transcoder API location.")
    transcoder_endpoint: str = Field(
        "", description="Transcoder API endpoint override (locally http://127.0.0.1:PORT of local_emulator)."
    )
    transcoder_topic: str = Field("transcoder-events", description="Pub/Sub topic id receiving job state events.")
    transcode_timeout_seconds: int = Field(
        6 * 3600,
        ge=1,
        description="A transcoding job not finished this long after it started is failed (TRANSCODE_FAILED, timed "
        "out) by the sweep-stuck-jobs function, and its video with it.",
    )
    premiere_threshold_seconds: float = Field(
        600.0,
        gt=0,
        description="Sources longer than this are transcoded as parallel time-range parts (one Transcoder job per "
        "part, docs/premiere.md); shorter ones as one job.",
    )
    premiere_part_seconds: float = Field(
        300.0,
        gt=0,
        description="Target length of one time-range part; the number of parts is the duration over this, rounded "
        "up, and never more than KSTREAM_PREMIERE_MAX_PARALLEL_JOBS.",
    )
    premiere_max_parallel_jobs: int = Field(
        10,
        ge=2,
        description="Most parts (Transcoder jobs, all started at once) one video is cut into: half the Transcoder "
        "API's 20 concurrent interactive jobs per region, so two premieres fit at once.",
    )
    callback_signing_secret: str = Field(
        "",
        description="HMAC-SHA256 key signing transcode completion callbacks (X-Kstream-Signature), from Secret "
        "Manager. Empty: a start request with a callbackUrl is refused, except in local runs (transcoder_endpoint "
        "set), which use the fixed development key of docs/transcoding.md.",
    )

    cdn_base_url: str = Field(
        "", description="Public base URL of the media bucket behind Cloud CDN (locally the gateway's /media)."
    )
    cdn_key_name: str = Field("kstream-media-key", description="Name of the Cloud CDN signing key.")
    cdn_key_secret: str = Field("", description="Cloud CDN signing key, base64url (from Secret Manager).")
    api_base_url: str = Field(
        "", description="Public base URL of the API (scheme and host) in playback URLs (`streamingUrls`); empty: "
        "the origin of KSTREAM_CDN_BASE_URL (one load balancer serves the API and /media).")
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description="Comma-separated origins (`https://app.example`) whose browser requests may carry credentials: "
        "the API reflects them with `Access-Control-Allow-Credentials: true`; any other origin gets `*` "
        "(uncredentialed reads only).",
    )

    service_accounts: list[str] = Field(
        default_factory=list,
        description="Comma-separated service-account emails allowed to call the service endpoints.",
    )
    service_audience: str = Field(
        "", description="Audience that service OIDC tokens must carry (the API's base URL)."
    )
    oidc_certs_url: str = Field(
        GOOGLE_OIDC_CERTS_URL, description="Where Google's OIDC signing certificates are fetched from."
    )
    oidc_issuers: list[str] = Field(
        default_factory=lambda: list(GOOGLE_OIDC_ISSUERS),
        description="Accepted issuers of service OIDC tokens, comma-separated.",
    )
    firebase_certs_url: str = Field(
        "", description="Test only: where Firebase ID-token certificates are fetched from (empty: Google's)."
    )
    upload_starts_per_hour: int = Field(10, ge=1, description="Upload sessions a user may start per hour.")
    revocation_cache_seconds: int = Field(
        60, ge=0, le=60,
        description="How long a function may trust a user's looked-up revocation state (0-60 s): a revoked or "
        "disabled user's ID token is refused within this bound by every function, and at once by those that "
        "`check_revoked` in functions.yaml (writes, role and admin actions). 0: look the user up on every request.",
    )
    watermark_logo: str = Field(
        "", description="Site watermark drawn on every rendition of every new transcode: a PNG as gs://bucket/object, "
        "or a file path the transcode function copies once into the media bucket (branding/). Empty: off.",
    )
    watermark_corner: Literal["top-left", "top-right", "bottom-left", "bottom-right"] = Field(
        "bottom-right", description="Corner of the video the watermark sits in.")
    watermark_opacity: float = Field(
        0.8, gt=0, le=1, description="Watermark opacity, 0-1 (1 solid): the Transcoder overlay's image alpha.")
    watermark_width: float = Field(
        0.12, gt=0, le=0.5, description="Watermark width as a fraction of the video width (its aspect is kept).")

    @field_validator("service_accounts", "oidc_issuers", "cors_allowed_origins", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or origin != f"{parts.scheme}://{parts.netloc}":
                raise ValueError(f"an origin is scheme://host[:port] with nothing after it, found {origin!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"expected DEBUG, INFO, WARNING or ERROR, found {value!r}")
        return level

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The fields whose ``KSTREAM_<NAME>`` variable is set, as strings for pydantic to convert; defaults
        otherwise. Variables with the prefix that name no field are ignored (a newer deployment's settings)."""
        return cls(**{name: environ[env_variable(name)] for name in cls.model_fields if env_variable(name) in environ})


@functools.cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use and then kept."""
    try:
        return Settings.from_environment()
    except ValidationError as exc:
        problems = "; ".join(
            f"{env_variable('_'.join(str(p) for p in err['loc']))}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None


Built = TypeVar("Built")


def per_settings(build: Callable[[Settings], Built]) -> Callable[[Settings], Built]:
    """``build(settings)`` once per settings object (by identity; thread-safe): how a process keeps the services it
    wires from clients, created on first use. Tests pass their own Settings and get their own services."""
    built: dict[int, Built] = {}
    lock = threading.Lock()

    @functools.wraps(build)
    def once(settings: Settings) -> Built:
        with lock:
            key = id(settings)
            if key not in built:
                built[key] = build(settings)
            return built[key]

    return once
