"""The declarative list of functions (functions/functions.yaml), parsed once, and route matching.

The same list drives the functions (their route templates and access rules), the local gateway and event bridge,
the tests and Terraform, so local and cloud wiring cannot drift.

Versioning (spec section 5): an ``/api/...`` template also answers at ``/api/v1/...``. A path naming any other
``vN`` still matches its route, so the function can answer 400 API_VERSION_UNSUPPORTED rather than 404.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import yaml

from .errors import ConfigurationError

FUNCTIONS_FILE = Path(__file__).resolve().parent.parent / "functions.yaml"
SUPPORTED_VERSIONS = ("v1",)
LATEST_VERSION = "v1"

Access = Literal["public", "user", "service"]
_PARAM = re.compile(r"\{([A-Za-z][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class RouteMatch:
    function: FunctionSpec
    params: dict[str, str]
    version: str | None  # as written in the path, None for the unversioned (latest) form


@dataclass(frozen=True)
class HttpTrigger:
    method: str
    path: str
    pattern: re.Pattern[str] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: dict[str, Any], where: str) -> HttpTrigger:
        method = str(raw.get("method", "")).upper()
        path = str(raw.get("path", ""))
        if method not in {"GET", "POST", "PUT", "DELETE", "PATCH"}:
            raise ConfigurationError(f"{where}: http.method must be an HTTP method, found {method!r}")
        if not path.startswith("/"):
            raise ConfigurationError(f"{where}: http.path must start with '/', found {path!r}")
        return cls(method=method, path=path, pattern=_compile(path))

    def match(self, path: str) -> tuple[dict[str, str], str | None] | None:
        found = self.pattern.match(path)
        if not found:
            return None
        groups = found.groupdict()
        version = groups.pop("_version", None)
        return groups, version


@dataclass(frozen=True)
class EventTrigger:
    type: str
    bucket: str | None = None  # a settings role: "upload" | "source" | "media"
    topic: str | None = None  # a settings role, e.g. "transcoder_events"


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    entry_point: str
    access: Access
    permission: str | None
    env: tuple[str, ...]
    http: HttpTrigger | None
    event: EventTrigger | None
    memory: str
    timeout_seconds: int
    concurrency: int
    min_instances: int
    max_instances: int
    rate_limited: bool = False  # keeps its own quota and answers 429 itself
    max_body_bytes: int | None = None  # overrides Settings.max_body_bytes for this function's JSON body
    playback_token: bool = False  # a ?token= playback token may stand in for Authorization (the stream function)


@dataclass(frozen=True)
class FunctionList:
    functions: tuple[FunctionSpec, ...]

    def by_name(self, name: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise ConfigurationError(f"no function named {name!r} in {FUNCTIONS_FILE.name}")

    def by_entry_point(self, entry_point: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.entry_point == entry_point:
                return spec
        raise ConfigurationError(f"no function with entry point {entry_point!r} in {FUNCTIONS_FILE.name}")

    @property
    def http_functions(self) -> tuple[FunctionSpec, ...]:
        return tuple(spec for spec in self.functions if spec.http)

    @property
    def event_functions(self) -> tuple[FunctionSpec, ...]:
        return tuple(spec for spec in self.functions if spec.event)

    def match(self, path: str, method: str | None = None) -> RouteMatch | None:
        """The route a request path belongs to; with ``method``, only a route of that method."""
        for spec in self.http_functions:
            assert spec.http is not None
            if method is not None and spec.http.method != method.upper():
                continue
            found = spec.http.match(path)
            if found:
                return RouteMatch(function=spec, params=found[0], version=found[1])
        return None

    def methods_for(self, path: str) -> list[str]:
        """Methods that some route answers at ``path`` (for 405 versus 404)."""
        return sorted({spec.http.method for spec in self.http_functions if spec.http and spec.http.match(path)})


def _compile(template: str) -> re.Pattern[str]:
    body = template
    prefix = ""
    if template == "/api" or template.startswith("/api/"):
        prefix = r"/api(?:/(?P<_version>v\d+))?"
        body = template[len("/api") :]
    parts: list[str] = []
    last = 0
    for param in _PARAM.finditer(body):
        parts.append(re.escape(body[last : param.start()]))
        parts.append(f"(?P<{param.group(1)}>[^/]+)")
        last = param.end()
    parts.append(re.escape(body[last:]))
    return re.compile("^" + prefix + "".join(parts) + "/?$")


def parse_function_list(raw: dict[str, Any]) -> FunctionList:
    defaults = raw.get("defaults") or {}
    specs: list[FunctionSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(raw.get("functions") or []):
        where = f"functions[{index}]"
        merged = {**defaults, **item}
        name = str(merged.get("name", ""))
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,40}", name):
            raise ConfigurationError(f"{where}: name must be lowercase letters, digits and '-', found {name!r}")
        if name in seen:
            raise ConfigurationError(f"{where}: duplicate function name {name!r}")
        seen.add(name)
        http = HttpTrigger.parse(merged["http"], where) if merged.get("http") else None
        event = EventTrigger(**merged["event"]) if merged.get("event") else None
        if (http is None) == (event is None):
            raise ConfigurationError(f"{where} ({name}): exactly one of http or event is required")
        access = merged.get("access", "public" if http else "service")
        if access not in ("public", "user", "service"):
            raise ConfigurationError(f"{where} ({name}): access must be public, user or service")
        if access == "user" and not merged.get("permission"):
            raise ConfigurationError(f"{where} ({name}): access 'user' needs a permission")
        rate_limited = merged.get("rate_limited", False)
        if not isinstance(rate_limited, bool) or (rate_limited and http is None):
            raise ConfigurationError(f"{where} ({name}): rate_limited must be true or false, and only on HTTP "
                                     "functions")
        max_body = merged.get("max_body_bytes")
        if max_body is not None and (isinstance(max_body, bool) or not isinstance(max_body, int) or http is None
                                     or not 1024 <= max_body <= 32 * 1024 * 1024):
            raise ConfigurationError(f"{where} ({name}): max_body_bytes must be an integer from 1024 to 32 MiB (the "
                                     "Cloud Run request limit), and only on HTTP functions")
        playback_token = merged.get("playback_token", False)
        if not isinstance(playback_token, bool) or (playback_token and access != "user"):
            raise ConfigurationError(f"{where} ({name}): playback_token must be true or false, and only on 'user' "
                                     "functions")
        specs.append(
            FunctionSpec(
                name=name,
                entry_point=str(merged["entry_point"]),
                access=access,
                permission=merged.get("permission"),
                env=tuple(merged.get("env") or ()),
                http=http,
                event=event,
                memory=str(merged["memory"]),
                timeout_seconds=int(merged["timeout_seconds"]),
                concurrency=int(merged["concurrency"]),
                min_instances=int(merged["min_instances"]),
                max_instances=int(merged["max_instances"]),
                rate_limited=rate_limited,
                max_body_bytes=max_body,
                playback_token=playback_token,
            )
        )
    return FunctionList(functions=tuple(specs))


@functools.cache
def function_list() -> FunctionList:
    """The function list of this deployment, parsed once per process."""
    with FUNCTIONS_FILE.open(encoding="utf-8") as handle:
        # libyaml's safe loader when PyYAML has it (its wheels do): 2 ms instead of 25 ms of every cold start
        safe_loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # both build plain data only
        return parse_function_list(yaml.load(handle, Loader=safe_loader))  # noqa: S506


Handler = TypeVar("Handler", bound=Callable[..., Any])


def lazy_handler(handler: Handler | str) -> Callable[[], Handler]:
    """A resolver for a handler given as itself or as ``"package.module:function"``, imported on first use.

    Every deployed function shares main.py; resolving lazily lets each load only its own handler's dependencies.
    """
    if not isinstance(handler, str):
        return lambda: handler
    module_name, _, attribute = handler.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"handler path must look like 'package.module:function', found {handler!r}")

    @functools.cache
    def resolve() -> Handler:
        return cast(Handler, getattr(importlib.import_module(module_name), attribute))

    return resolve
