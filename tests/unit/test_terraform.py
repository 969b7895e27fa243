"""Offline proof of terraform/: the configuration is parsed with python-hcl2 and checked against the files it
must follow (functions/functions.yaml, functions/firestore.indexes.json, functions/kstream/settings.py).

Providers cannot be downloaded here, so `terraform validate/plan/test` cannot run (terraform/tests/*.tftest.hcl
are for machines that can). What this file proves instead:

- both environment roots are thin: backend, providers and one call of the shared stack (terraform/stack) with their
  own values; the stack wires the modules, and state moves to the new addresses through `moved` blocks;
- the functions module iterates the yamldecoded function list and wires each entry's fields (no copied list);
- every event function gets an Eventarc trigger of its type, with retry and a dead-letter topic, on a bucket or
  topic its role names; the sweeper topic is fed by Cloud Scheduler, whose agent may publish there and nowhere else;
- secrets (KSTREAM_*_SECRET) come from Secret Manager as secret environment variables, never plain env;
- every composite index of the JSON file is deployed by a resource that reads that same file;
- no bucket is public: every entry of the storage module's bucket map gets uniform access and public access
  prevention; the upload bucket has CORS (incl. Content-MD5) and its lifecycle rules;
- the roles each function's service account receives, evaluated from the literal rule tables in
  modules/functions/iam.tf against functions.yaml, are within an allow-list per function kind;
- no service-account keys, providers pinned once (stack/versions.tf), a description on every variable and output,
  `terraform fmt`;
- the URL map's route scheme sends every spec path (unversioned, /api/v1, /api/vN) to its own function;
- Cloud Armor's 429 is served as the error envelope (a JSON object checked against contracts' model) on every route
  but upload-start's, whose function answers its own 429.

Each checker returns a list of problems; the `*_catches_*` tests feed it a broken snippet to show it can fail.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
MODULES = TF / "modules"
STACK = TF / "stack"  # the whole of kstream for one environment; each environment root calls it once
ENVIRONMENTS = [TF / "environments" / "dev", TF / "environments" / "prod"]
FUNCTIONS_YAML = REPO / "functions" / "functions.yaml"
INDEXES_JSON = REPO / "functions" / "firestore.indexes.json"
SETTINGS_PY = REPO / "functions" / "kstream" / "settings.py"
POST_DEPLOY = MODULES / "functions" / "scripts" / "post-deploy.sh"

OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)

# Roles a function's own service account may hold, by function kind (functions.yaml: event entries are "event",
# HTTP entries their `access`). Anything else, or any role outside its kind, is a failure.
ALLOWED_ROLES_BY_KIND: dict[str, set[str]] = {
    "public": {"roles/firebaseauth.viewer"},
    "user": {
        "roles/firebaseauth.viewer",
        "roles/datastore.user",
        "roles/storage.objectViewer",
        "roles/storage.objectUser",
        "roles/iam.serviceAccountTokenCreator",  # on itself only (checked below)
        "roles/secretmanager.secretAccessor",  # on the secrets it reads only (checked below): the CDN key
    },
    "service": {
        "roles/datastore.user",
        "roles/storage.objectViewer",
        "roles/transcoder.admin",  # only job creators (checked below)
        "roles/transcoder.viewer",
        "roles/secretmanager.secretAccessor",  # the callback signing secret of transcode-start (checked below)
    },
    "event": {
        "roles/datastore.user",
        "roles/eventarc.eventReceiver",
        "roles/run.invoker",  # on its own service only
        "roles/storage.objectViewer",
        "roles/storage.objectUser",  # media only, the job finishers writing subtitle tracks (bucket_write_problems)
        "roles/transcoder.admin",
        "roles/transcoder.viewer",
        "roles/secretmanager.secretAccessor",  # the callback signing secret of callback senders (checked below)
    },
}

# Every role string anywhere under terraform/ (service agents and the build account included).
ALLOWED_ROLES_ANYWHERE = set().union(*ALLOWED_ROLES_BY_KIND.values()) | {
    # Transcoder agent on its topic, Pub/Sub agent on the dead-letter topic, Cloud Scheduler agent on the sweeper
    # topic, GCS agent (project: Eventarc's transport topics)
    "roles/pubsub.publisher",
    "roles/pubsub.subscriber",  # Pub/Sub agent on Eventarc subscriptions (dead-letter forwarding)
    "roles/logging.logWriter",  # function build account
    "roles/artifactregistry.writer",  # function build account, on its repository
}
FORBIDDEN_ROLE = re.compile(r"^roles/(owner|editor|viewer)$|admin$", re.IGNORECASE)
ADMIN_EXCEPTIONS = {"roles/transcoder.admin"}  # creating a Transcoder job needs transcoder.jobs.create: admin only

REQUIRED_APIS = {
    f"{api}.googleapis.com"
    for api in [
        "cloudfunctions", "run", "cloudbuild", "artifactregistry", "eventarc", "pubsub", "storage", "firestore",
        "transcoder", "iam", "iamcredentials", "secretmanager", "compute", "logging", "monitoring", "identitytoolkit",
        "cloudscheduler",
    ]
}

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"


# ---------------------------------------------------------------------------------------------------- parsing


def parse_text(text: str) -> dict[str, Any]:
    return hcl2.loads(text, serialization_options=OPTIONS)


@functools.cache
def parse_file(path: Path) -> dict[str, Any]:
    return parse_text(path.read_text(encoding="utf-8"))


def tf_files(root: Path = TF) -> list[Path]:
    return sorted(p for p in root.rglob("*.tf") if ".terraform" not in p.parts)


def merged(directory: Path) -> dict[str, Any]:
    """All .tf files of one module directory, merged: {"resource": {type: {name: body}}, "locals": {...}, ...}."""
    out: dict[str, Any] = {"resource": {}, "data": {}, "module": {}, "variable": {}, "output": {}, "locals": {},
                           "terraform": [], "provider": [], "moved": []}
    for path in sorted(directory.glob("*.tf")):
        doc = parse_file(path)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                out["resource"].setdefault(rtype, {}).update(named)
        for block in doc.get("data", []):
            for dtype, named in block.items():
                out["data"].setdefault(dtype, {}).update(named)
        for kind in ("module", "variable", "output", "locals"):
            for block in doc.get(kind, []):
                out[kind].update({k: v for k, v in block.items() if not k.startswith("__")})
        out["terraform"] += doc.get("terraform", [])
        out["provider"] += doc.get("provider", [])
        out["moved"] += [(m["from"], m["to"]) for m in doc.get("moved", [])]
    return out


def one(blocks: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    """The single nested block hcl2 gives as a one-element list."""
    if isinstance(blocks, dict):
        return blocks
    assert len(blocks) == 1, f"expected one block, found {len(blocks)}"
    return blocks[0]


def dynamic(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    for block in body.get("dynamic", []):
        if name in block:
            return block[name]
    return None


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a parsed document, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def all_resources(root: Path = TF) -> Iterator[tuple[Path, str, str, dict[str, Any]]]:
    for path in tf_files(root):
        for block in parse_file(path).get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    yield path, rtype, name, body


# ------------------------------------------------------------------------------------------- the inputs


@functools.cache
def function_list() -> list[dict[str, Any]]:
    """functions.yaml entries with `defaults` applied, and each one's kind for IAM: event | public | user | service."""
    raw = yaml.safe_load(FUNCTIONS_YAML.read_text(encoding="utf-8"))
    entries = []
    for item in raw["functions"]:
        entry = {**raw["defaults"], **item}
        entry.setdefault("env", [])
        entry["kind"] = "event" if entry.get("event") else entry.get("access", "public")
        entries.append(entry)
    return entries


def settings_fields() -> set[str]:
    """KSTREAM_* names of the fields of kstream.settings.Settings (read from the source, not imported)."""
    tree = ast.parse(SETTINGS_PY.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    return {
        "KSTREAM_" + n.target.id.upper()
        for n in cls.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id != "model_config"
    }


def _constant(node: ast.expr) -> Any:
    """Value of a constant expression of settings.py (literals and + - * // of them); anything else is an error."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)):
        left, right = _constant(node.left), _constant(node.right)
        return {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right,
                ast.FloorDiv: left // right if right else None}[type(node.op)]
    raise ValueError(f"not a constant: {ast.dump(node)}")


def settings_default(setting: str) -> Any:
    """The default of one KSTREAM_* field of kstream.settings.Settings (the first argument of its Field)."""
    tree = ast.parse(SETTINGS_PY.read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    for n in cls.body:
        if not (isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)):
            continue
        if "KSTREAM_" + n.target.id.upper() == setting:
            assert isinstance(n.value, ast.Call) and n.value.args, f"{setting} has no Field default"
            return _constant(n.value.args[0])
    raise KeyError(setting)


def resolve_module_path(expr: str, module_dir: Path, module_locals: dict[str, Any]) -> Path:
    """Resolve a path expression of a module ("${local.repo_root}/functions/...", repo_root from ${path.module})."""
    text = expr
    for _ in range(3):
        text = re.sub(r"\$\{local\.(\w+)\}", lambda m: str(module_locals[m.group(1)]), text)
    text = text.replace("${path.module}", str(module_dir))
    assert "${" not in text, f"cannot resolve {expr!r} -> {text!r}"
    return Path(text).resolve()


# --------------------------------------------------------------------------------------------- checkers


def bucket_problems(resources: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    problems = []
    for rtype, name, body in resources:
        if rtype == "google_storage_bucket":
            if body.get("uniform_bucket_level_access") is not True:
                problems.append(f"{name}: uniform_bucket_level_access is not true")
            if body.get("public_access_prevention") != "enforced":
                problems.append(f"{name}: public_access_prevention is not enforced")
            if "predefined_acl" in body:
                problems.append(f"{name}: predefined_acl")
        if rtype in {"google_storage_bucket_acl", "google_storage_default_object_acl", "google_storage_object_acl",
                     "google_storage_bucket_access_control", "google_storage_object_access_control"}:
            problems.append(f"{rtype}.{name}: ACLs are not used (uniform access)")
    return problems


def _expand(value: Any, entry: dict[str, Any], iterator: str | None = None, item: Any = None) -> Any:
    """One argument of a for_each resource for one entry, as Terraform evaluates it: `${each.value.k}` is the entry's
    k; in a dynamic block, `${<iterator>.value}`, `${<iterator>.value.k}` and `${lookup(<iterator>.value, "k", null)}`
    are the item's. Any other use of each.value or of the iterator fails: this helper must then learn it."""
    if isinstance(value, dict):
        return {k: _expand(v, entry, iterator, item) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_expand(v, entry, iterator, item) for v in value]
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{each\.value\.(\w+)\}", value)
    if whole:
        return entry[whole.group(1)]
    if iterator:
        if value == f"${{{iterator}.value}}":
            return item
        attr = (re.fullmatch(rf"\$\{{{iterator}\.value\.(\w+)\}}", value)
                or re.fullmatch(rf'\$\{{lookup\({iterator}\.value, "(\w+)", null\)\}}', value))
        if attr:
            return item.get(attr.group(1))
    text = re.sub(r"\$\{each\.value\.(\w+)\}", lambda m: str(entry[m.group(1)]), value)
    if "each.value" in text or (iterator and f"{iterator}.value" in text):
        raise ValueError(f"cannot expand {value!r}")
    return text


def _dynamic_items(for_each: str, entry: dict[str, Any]) -> list[Any]:
    """Items of a dynamic block over an entry: `each.value.k` (a list), or `each.value.k == null ? [] : [each.value.k]`
    (no block when the entry's k is null)."""
    listed = re.fullmatch(r"\$\{each\.value\.(\w+)\}", for_each)
    if listed:
        return list(entry[listed.group(1)])
    optional = re.fullmatch(r"\$\{each\.value\.(\w+) == null \? \[\] : \[each\.value\.(\w+)\]\}", for_each)
    if optional and optional.group(1) == optional.group(2):
        value = entry[optional.group(1)]
        return [] if value is None else [value]
    raise ValueError(f"cannot expand dynamic for_each {for_each!r}")


def for_each_instances(body: dict[str, Any], entries: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A resource with `for_each` over a literal map, one body per key, with its dynamic blocks written out."""
    dynamics = {name: spec for block in body.get("dynamic", []) for name, spec in block.items()}
    instances = {}
    for key, entry in entries.items():
        if key.startswith("__"):
            continue
        inst = {k: _expand(v, entry) for k, v in body.items()
                if k not in {"for_each", "dynamic"} and not k.startswith("__")}
        for name, spec in dynamics.items():
            inst[name] = [_expand(one(spec["content"]), entry, name, item)
                          for item in _dynamic_items(spec["for_each"], entry)]
        instances[key] = inst
    return instances


def bucket_instances(storage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """modules/storage's buckets by role: google_storage_bucket.this for each entry of local.buckets."""
    buckets = storage["resource"]["google_storage_bucket"]
    assert set(buckets) == {"this"}, f"modules/storage: expected one for_each bucket resource, found {sorted(buckets)}"
    assert buckets["this"]["for_each"] == "${local.buckets}"
    return for_each_instances(buckets["this"], storage["locals"]["buckets"])


def expanded_resources(root: Path = TF) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, name, body) of every resource under terraform/, buckets of a for_each map once per entry."""
    out = []
    for path, rtype, name, body in all_resources(root):
        if rtype == "google_storage_bucket" and "for_each" in body:
            out += [(rtype, f"{name}[{role}]", inst) for role, inst in bucket_instances(merged(path.parent)).items()]
        else:
            out.append((rtype, name, body))
    return out


def public_member_problems(texts: dict[str, str]) -> list[str]:
    return [f"{name}: grants to {who}" for name, text in texts.items()
            for who in ("allUsers", "allAuthenticatedUsers") if who in text]


def key_problems(resources: list[tuple[str, str, dict[str, Any]]], providers: list[dict[str, Any]]) -> list[str]:
    problems = [f"{rtype}.{name}: service-account keys are never made" for rtype, name, _ in resources
                if rtype == "google_service_account_key"]
    for block in providers:
        for pname, body in block.items():
            if any(k in body for k in ("credentials", "access_token")):
                problems.append(f"provider {pname}: credentials in configuration")
    return problems


def role_string_problems(texts: dict[str, str]) -> list[str]:
    problems = []
    for name, text in texts.items():
        for role in sorted(set(re.findall(r"roles/[A-Za-z0-9_.]+", text))):
            if FORBIDDEN_ROLE.search(role) and role not in ADMIN_EXCEPTIONS:
                problems.append(f"{name}: forbidden role {role}")
            elif role not in ALLOWED_ROLES_ANYWHERE:
                problems.append(f"{name}: role {role} is not in the allow-list")
    return problems


def pin_problems(terraform_blocks: dict[str, list[dict[str, Any]]], needed: dict[str, set[str]],
                 pin_place: str) -> list[str]:
    """Versions are constrained in one place (`pin_place`: required_version and every provider pinned with
    ~> MAJOR.MINOR); every other module declares each provider it uses with its hashicorp/ source and no version;
    every provider used or configured anywhere is pinned there."""
    problems = []
    pins: dict[str, str] = {}
    for where, blocks in terraform_blocks.items():
        declared: dict[str, Any] = {}
        for block in blocks:
            for rp in block.get("required_providers", []):
                declared.update({k: v for k, v in rp.items() if not k.startswith("__")})
        constrains_version = any("required_version" in block for block in blocks)
        for pname, spec in declared.items():
            if not isinstance(spec, dict) or spec.get("source") != f"hashicorp/{pname}":
                problems.append(f"{where}: provider {pname} has no hashicorp/{pname} source")
                continue
            if where == pin_place:
                pins[pname] = spec.get("version", "")
                if not re.fullmatch(r"~> \d+\.\d+", pins[pname]):
                    problems.append(f"{where}: provider {pname} not pinned with ~> MAJOR.MINOR (found {pins[pname]!r})")
            elif "version" in spec:
                problems.append(f"{where}: provider {pname} pinned here too (pins live in {pin_place} only)")
        if where == pin_place:
            if not any(str(block.get("required_version", "")).startswith(">=") for block in blocks):
                problems.append(f"{where}: no required_version")
        elif constrains_version:
            problems.append(f"{where}: required_version here too (it lives in {pin_place} only)")
        if where.startswith("modules/") or where == pin_place:
            for pname in sorted(needed.get(where, set()) - set(declared)):
                problems.append(f"{where}: uses provider {pname} without declaring it")
    for pname in sorted(set().union(*needed.values()) - set(pins)):
        problems.append(f"provider {pname} is used but not pinned in {pin_place}")
    return problems


def description_problems(doc: dict[str, Any], where: str) -> list[str]:
    problems = []
    for kind in ("variable", "output"):
        for name, body in doc[kind].items():
            if not str(body.get("description", "")).strip():
                problems.append(f"{where}: {kind} {name} has no description")
            if kind == "variable":
                if "type" not in body:
                    problems.append(f"{where}: variable {name} has no type")
                if body.get("nullable") is not False and body.get("default", "missing") is not None:
                    problems.append(f"{where}: variable {name} is nullable without a null default")
    return problems


def secret_setting_names(module_locals: dict[str, Any]) -> set[str]:
    """Settings modules/functions/settings.tf gives from Secret Manager (local.secret_settings)."""
    return {k for k in module_locals["secret_settings"] if not k.startswith("__")}


def function_roles(iam_locals: dict[str, Any]) -> dict[str, set[str]]:
    """Roles each functions.yaml entry receives from modules/functions/iam.tf, evaluated from its literal tables.

    Mirrors the for-expressions of iam.tf (project_grants, bucket_grants, secret_grants and the per-function
    resources), which test_iam_rules_are_applied_as_written pins down.
    """
    rules = {k: v for k, v in iam_locals["project_role_rules"].items() if not k.startswith("__")}
    roles: dict[str, set[str]] = {}
    for f in function_list():
        env = set(f["env"])
        got = set()
        for role, rule in rules.items():
            if (f["kind"] in rule["kinds"] or env & set(rule["env"])) and not env & set(rule["unless_env"]):
                got.add(role)
        for setting, bucket in iam_locals["bucket_settings"].items():
            if setting in env:
                writers = iam_locals["bucket_writers"][bucket]
                got.add("roles/storage.objectUser" if f["name"] in writers else "roles/storage.objectViewer")
        if env & secret_setting_names(iam_locals):
            got.add("roles/secretmanager.secretAccessor")
        if "KSTREAM_SIGNER_EMAIL" in env:
            got.add("roles/iam.serviceAccountTokenCreator")
        if f["kind"] == "event":
            got.add("roles/run.invoker")
        roles[f["name"]] = got
    return roles


def role_allowlist_problems(roles: dict[str, set[str]], secrets: set[str] | None = None) -> list[str]:
    """Roles beyond a function's kind, or not justified by the settings it reads (`secrets`: the settings that come
    from Secret Manager; default: every KSTREAM_*_SECRET)."""
    kinds = {f["name"]: f for f in function_list()}
    problems = []
    for name, got in roles.items():
        f = kinds[name]
        for role in sorted(got - ALLOWED_ROLES_BY_KIND[f["kind"]]):
            problems.append(f"{name} ({f['kind']}): {role} is not allowed for its kind")
        if "roles/transcoder.admin" in got and "KSTREAM_TRANSCODER_TOPIC" not in f["env"]:
            problems.append(f"{name}: transcoder.admin without creating jobs")
        if "roles/iam.serviceAccountTokenCreator" in got and "KSTREAM_SIGNER_EMAIL" not in f["env"]:
            problems.append(f"{name}: token creator without signing URLs")
        if "roles/storage.objectUser" in got and f["kind"] not in {"user", "event"}:
            problems.append(f"{name}: writes a bucket")
        reads_secret = any(s in secrets if secrets is not None else s.endswith("_SECRET") for s in f["env"])
        if "roles/secretmanager.secretAccessor" in got and not reads_secret:
            problems.append(f"{name}: secret access without reading a secret setting")
    return problems


def bucket_write_problems(iam_locals: dict[str, Any]) -> list[str]:
    """Who may write which bucket, from functions.yaml alone: uploaders write chunks; the uploader that reads both
    buckets composes into the source bucket; media (renditions: the Transcoder API, as its agent) only takes
    subtitle tracks, from uploaders that read the media bucket and from the event functions that finish jobs."""
    entries = {f["name"]: f for f in function_list()}
    uploaders = {n for n, f in entries.items() if f.get("permission") == "videos:upload"}
    composers = {n for n in uploaders if {"KSTREAM_UPLOAD_BUCKET", "KSTREAM_SOURCE_BUCKET"} <= set(entries[n]["env"])}
    media = {n for n in uploaders if "KSTREAM_MEDIA_BUCKET" in entries[n]["env"]} | {
        n for n, f in entries.items()
        if f.get("event") and {"KSTREAM_MEDIA_BUCKET", "KSTREAM_TRANSCODER_LOCATION"} <= set(f["env"])}
    allowed = {"upload": uploaders, "source": composers, "media": media}
    problems = []
    for bucket, writers in iam_locals["bucket_writers"].items():
        for name in writers:
            if name not in entries:
                problems.append(f"bucket_writers.{bucket}: {name} is not in functions.yaml")
            elif name not in allowed.get(bucket, set()):
                problems.append(f"bucket_writers.{bucket}: {name} may not write this bucket")
    return problems


def secret_placement_problems(plain: set[str], secrets: dict[str, Any], env_lists: dict[str, list[str]]) -> list[str]:
    """Secrets (KSTREAM_*_SECRET) only as Secret Manager secret env vars, each from a secret id and version the module
    is given (never a literal), and every secret a function lists provided that way."""
    problems = [f"{s}: a secret set as plain env (settings.tf local.settings)" for s in sorted(plain)
                if s.endswith("_SECRET")]
    for setting, ref in secrets.items():
        if setting.startswith("__"):
            continue
        if not isinstance(ref, dict) or set(ref) - {"__start_line__", "__end_line__"} != {"secret_id", "version"}:
            problems.append(f"{setting}: secret_settings entry is not {{secret_id, version}}")
            continue
        for key in ("secret_id", "version"):
            if not str(ref[key]).startswith("${var.settings."):
                problems.append(f"{setting}: {key} is {ref[key]!r}, not taken from var.settings")
    for name, env in env_lists.items():
        for setting in env:
            if setting.endswith("_SECRET") and setting not in secrets:
                problems.append(f"{name} reads {setting}, which does not come from Secret Manager")
    return problems


def topic_wiring_problems(functions: list[dict[str, Any]], data_topics: dict[str, Any],
                          roots: dict[str, dict[str, Any]]) -> list[str]:
    """Each Pub/Sub event function's topic role: a topic of modules/data (output `topics`, the topic's id) that the
    stack (every environment's wiring) maps under that role to exactly that output."""
    problems = []
    for f in functions:
        event = f.get("event") or {}
        if event.get("type") != PUBSUB_PUBLISHED:
            continue
        role = event.get("topic")
        if not re.fullmatch(r"\$\{google_pubsub_topic\.\w+\.id\}", str(data_topics.get(role, ""))):
            problems.append(f"{f['name']}: topic role {role!r} is not a topic of modules/data (output topics)")
        for where, topics in roots.items():
            if not isinstance(topics, dict) or topics.get(role) != f"${{module.data.topics.{role}}}":
                problems.append(f"{where}: event_sources.topics.{role} is not module.data.topics.{role}")
    return problems


def scheduler_problems(data: dict[str, Any], all_texts: dict[str, str]) -> list[str]:
    """The sweep's Cloud Scheduler job publishes to the sweeper topic on var.sweep_schedule, the Cloud Scheduler agent
    may publish to that topic, and that agent holds nothing else anywhere in terraform/."""
    problems = []
    res = data["resource"]
    topic = res.get("google_pubsub_topic", {}).get("sweeper")
    if not topic or topic.get("name") != "${var.prefix}-transcode-sweeper":
        problems.append("modules/data: no prefix-named google_pubsub_topic.sweeper")
    job = res.get("google_cloud_scheduler_job", {}).get("sweeper")
    if not job:
        return [*problems, "modules/data: no google_cloud_scheduler_job.sweeper"]
    target = one(job.get("pubsub_target", [{}]))
    if target.get("topic_name") != "${google_pubsub_topic.sweeper.id}":
        problems.append(f"scheduler job publishes to {target.get('topic_name')!r}, not the sweeper topic")
    if not target.get("data") and not target.get("attributes"):
        problems.append("scheduler job publishes an empty message (Pub/Sub refuses it)")
    if job.get("schedule") != "${var.sweep_schedule}" or job.get("region") != "${var.region}":
        problems.append("scheduler job does not run on var.sweep_schedule in var.region")
    if "http_target" in job or "attempt_deadline" in job:
        problems.append("scheduler job has an HTTP target or attempt_deadline (ignored for Pub/Sub, a permanent diff)")
    grant = res.get("google_pubsub_topic_iam_member", {}).get("scheduler_publishes_sweeps", {})
    if (grant.get("topic"), grant.get("role"), grant.get("member")) != (
            "${google_pubsub_topic.sweeper.name}", "roles/pubsub.publisher",
            "serviceAccount:${var.service_agents.scheduler}"):
        problems.append(f"the Cloud Scheduler agent may not publish to the sweeper topic: {grant}")
    uses = sum(text.count("var.service_agents.scheduler") for text in all_texts.values())
    if uses != 1:
        problems.append(f"the Cloud Scheduler agent is granted {uses} times, expected once (the sweeper topic)")
    literal = sum(text.count("gcp-sa-cloudscheduler") for text in all_texts.values())
    if literal != 1:
        problems.append(f"the Cloud Scheduler agent's email is spelled out {literal} times, expected once "
                        "(modules/project output service_agents)")
    return problems


# ------------------------------------------------------------------------------ URL map route simulation


def _template(path: str) -> str:
    return re.sub(r"\{[^}/]+\}", "*", path)


Route = tuple[int, list[str], str, bool, str | None]  # priority, patterns, target, edge_429, method to match


def default_function(functions: list[dict[str, Any]]) -> str:
    """local.default_function of routes.tf: the first public HTTP function by name (else the first of all)."""
    http = sorted(f["name"] for f in functions if f.get("http"))
    public = [name for name in http if next(f for f in functions if f["name"] == name).get("access") == "public"]
    return (public or http)[0]


def route_table(functions: list[dict[str, Any]], media_path: str = "/media",
                self_limited: frozenset[str] | None = None) -> list[Route]:
    """(priority, match patterns, target, edge_429) as modules/edge/routes.tf builds them (pattern ending in /** =
    prefix); edge_429: the rule carries the custom error response that serves Cloud Armor's 429 as the envelope."""
    if self_limited is None:
        self_limited = frozenset(f["name"] for f in functions if f.get("rate_limited"))
    http = [f for f in functions if f.get("http")]
    literal = {f["name"]: len([s for s in f["http"]["path"].split("/") if s and not s.startswith("{")]) for f in http}
    order = [key.split("|")[1] for key in sorted(f"{100 - literal[f['name']]:03d}|{f['name']}" for f in http)]
    by_name = {f["name"]: f for f in http}
    last_of_path = {by_name[name]["http"]["path"]: name for name in order}  # local.path_last
    method = {name: None if last_of_path[by_name[name]["http"]["path"]] == name
              else by_name[name]["http"]["method"].upper() for name in order}
    table: list[Route] = [(10, [media_path.rstrip("/") + "/**"], "media", False, None)]
    for i, name in enumerate(order):
        t = _template(by_name[name]["http"]["path"])
        versioned = by_name[name]["http"]["path"].startswith("/api/")
        table.append((100 + i, [t, re.sub(r"^/api/", "/api/v1/", t)] if versioned else [t], name,
                      name not in self_limited, method[name]))
    for i, name in enumerate(order):
        t = _template(by_name[name]["http"]["path"])
        if by_name[name]["http"]["path"].startswith("/api/"):
            table.append((1000 + i, [re.sub(r"^/api/", "/api/*/", t)], name, name not in self_limited, method[name]))
    fallback = default_function(functions)
    table.append((2000, ["/**"], fallback, fallback not in self_limited, None))
    return sorted(table, key=lambda rule: rule[0])


def _matches(pattern: str, path: str) -> bool:
    if pattern.endswith("/**"):
        return path.startswith(pattern[:-2])
    want, have = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(want) == len(have) and all((w == "*" and h) or w == h for w, h in zip(want, have, strict=True))


def rule_for(table: list[Route], path: str, method: str = "GET") -> Route | None:
    for rule in table:
        if any(_matches(p, path) for p in rule[1]) and rule[4] in (None, method):
            return rule
    return None


def route(table: list[Route], path: str, method: str = "GET") -> str | None:
    rule = rule_for(table, path, method)
    return rule[2] if rule else None


def sample_path(template: str, version: str | None) -> str:
    path = re.sub(r"\{[^}/]+\}", "p-7f3a", template)
    if version and path.startswith("/api/"):
        path = f"/api/{version}/" + path[len("/api/"):]
    return path


def spec_paths(functions: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """(function name, sample path, method) for every form of every HTTP path: unversioned, /api/v1, /api/v7."""
    for f in functions:
        if not f.get("http"):
            continue
        for version in (None, "v1", "v7"):
            if version and not f["http"]["path"].startswith("/api/"):
                continue
            yield f["name"], sample_path(f["http"]["path"], version), f["http"]["method"].upper()


def routing_problems(functions: list[dict[str, Any]]) -> list[str]:
    table = route_table(functions)
    problems = []
    path_of = {f["name"]: f["http"]["path"] for f in functions if f.get("http")}
    for name, path, method in spec_paths(functions):
        got = route(table, path, method)
        if got != name:
            problems.append(f"{method} {path} reaches {got}, not {name}")
        preflight = route(table, path, "OPTIONS")
        if path_of.get(preflight or "") != path_of[name]:
            problems.append(f"a CORS preflight of {path} reaches {preflight}, not a function of that path")
    if route(table, "/media/videos/ep1/manifest.mpd") != "media":
        problems.append("/media/... does not reach the CDN backend bucket")
    if route(table, "/nothing-here") != default_function(functions):
        problems.append("an unmatched path does not reach the default function")
    return problems


def edge_429_problems(table: list[Route], functions: list[dict[str, Any]], answer_own_429: set[str]) -> list[str]:
    """Cloud Armor's 429 gets the envelope on every function route whose function never answers 429 itself, and
    a function that does (its envelope carries Retry-After and X-RateLimit-*) keeps its own answer on every form
    of its path: the edge policy is not on a rule that can reach it."""
    problems = []
    for name, path, method in spec_paths(functions):
        rule = rule_for(table, path, method)
        assert rule is not None and rule[2] == name, path
        if name in answer_own_429 and rule[3]:
            problems.append(f"{path}: the edge 429 policy would replace {name}'s own 429")
        if name not in answer_own_429 and not rule[3]:
            problems.append(f"{path}: Cloud Armor's 429 is not the envelope here")
    fallback = rule_for(table, "/nothing-here")
    if fallback is None or fallback[3] != (default_function(functions) not in answer_own_429):
        problems.append("/nothing-here: the edge 429 policy of unmatched paths does not follow their function")
    return problems


# ===================================================================================================== tests


def test_terraform_tree_parses() -> None:
    files = tf_files()
    assert len(files) >= 30, f"expected the modules and environments under {TF}, found {len(files)} .tf files"
    for path in files:
        assert isinstance(parse_file(path), dict), path


def test_functions_module_iterates_the_function_list() -> None:
    mod = merged(MODULES / "functions")
    loc = mod["locals"]
    assert loc["spec"] == "${yamldecode(file(var.functions_file))}"
    normalised = loc["functions"]
    assert normalised.startswith("${{for f in local.spec.functions : f.name => {"), normalised
    for field in ("f.entry_point", "f.http", "f.event", "f.env", "f.access", "f.memory", "f.timeout_seconds",
                  "f.concurrency", "f.min_instances", "f.max_instances"):
        assert field in normalised, f"local.functions does not read {field} from the list"

    fn = mod["resource"]["google_cloudfunctions2_function"]["this"]
    assert fn["for_each"] == "${local.functions}"
    assert fn["name"] == "${var.prefix}-${each.key}"
    build = one(fn["build_config"])
    assert build["entry_point"] == "${each.value.entry_point}"
    assert build["runtime"] == "${each.value.runtime}"
    assert one(one(one(build["source"])["storage_source"]))["object"] == "${google_storage_bucket_object.bundle.name}"
    service = one(fn["service_config"])
    assert service["service_account_email"] == "${google_service_account.function[each.key].email}"
    assert service["environment_variables"] == "${local.environment[each.key]}"
    assert service["available_memory"] == "${each.value.memory}"
    assert service["timeout_seconds"] == "${each.value.timeout}"
    assert service["max_instance_request_concurrency"] == "${each.value.concurrency}"
    assert service["min_instance_count"] == "${each.value.min_instances}"
    assert service["max_instance_count"] == "${each.value.max_instances}"
    assert "each.value.env" in dynamic(service, "secret_environment_variables")["for_each"]
    assert "for setting in f.env" in loc["environment"], "env must be built from each entry's env list"

    sa = mod["resource"]["google_service_account"]["function"]
    assert sa["for_each"] == "${local.functions}", "one service account per function"


def test_no_function_list_is_copied_into_terraform() -> None:
    """Function names appear in Terraform only in iam.tf's bucket_writers (justified there), never as a list:
    everything else per function comes from functions.yaml."""
    names = [f["name"] for f in function_list()]
    iam_text = (MODULES / "functions" / "iam.tf").read_text(encoding="utf-8")
    writers_block = re.search(r"bucket_writers = \{.*?\n  \}", iam_text, re.S)
    assert writers_block, "bucket_writers not found in iam.tf"
    for path in tf_files():
        text = path.read_text(encoding="utf-8")
        if path.name == "iam.tf":
            text = text.replace(writers_block.group(0), "")
        found = [n for n in names if f'"{n}"' in text]
        assert not found, f"{path.relative_to(REPO)} names functions {found}: read them from functions.yaml"


def test_stack_wires_the_spec_files() -> None:
    """The one wiring of the modules (terraform/stack), which both environment roots call."""
    root = merged(STACK)
    loc = root["locals"]
    functions = root["module"]["functions"]
    data = root["module"]["data"]
    assert loc["repo_root"] == "${path.module}/../..", "paths must not depend on which root calls the stack"
    assert resolve_module_path(functions["functions_file"], STACK, loc) == FUNCTIONS_YAML.resolve()
    assert resolve_module_path(data["indexes_file"], STACK, loc) == INDEXES_JSON.resolve()
    bundle_dir = re.search(r'"(\$\{local\.repo_root\}/build/function-source)"', functions["bundle"]["source_dir"])
    assert bundle_dir, functions["bundle"]["source_dir"]
    assert resolve_module_path(bundle_dir.group(1), STACK, loc) == (REPO / "build" / "function-source").resolve()
    for name, call in root["module"].items():
        assert (STACK / call["source"]).resolve() == (MODULES / name).resolve(), f"module {name}: {call['source']}"
    assert set(root["module"]) == {p.name for p in MODULES.iterdir() if p.is_dir()}, "every module, called once"
    assert functions["bundle"]["bucket"] == "${module.storage.buckets.bundles}"
    assert root["module"]["edge"]["functions"] == "${module.functions.http_functions}"
    assert functions["dead_letter"]["topic"] == "${module.data.topics.dead_letter}"
    assert functions["event_sources"]["buckets"] == "${module.storage.buckets}"
    assert functions["event_sources"]["topics"]["transcoder_events"] == "${module.data.topics.transcoder_events}"
    assert functions["event_sources"]["topics"]["sweeper"] == "${module.data.topics.sweeper}"
    assert (data["region"], data["sweep_schedule"]) == ("${var.region}", "${var.sweep_schedule}")
    settings = functions["settings"]
    assert settings["callback_secret"] == "${var.callback_signing}"
    assert settings["transcode_timeout_seconds"] == "${var.transcode_timeout_seconds}"


# What each environment is, dev beside prod: the per-environment defaults its root had before the stack, which its
# call of the stack must still give (a change here is a change of the environment, not a refactor).
ENVIRONMENT_VALUES: dict[str, dict[str, Any]] = {
    "prefix": {"dev": "kstream-dev", "prod": "kstream"},
    "force_destroy": {"dev": True, "prod": False},
    "firestore": {"dev": {"point_in_time_recovery": False, "delete_protection": False},
                  "prod": {"point_in_time_recovery": True, "delete_protection": True}},
    "scaling": {"dev": {"min_instances_cap": 0, "max_instances_cap": 5},
                "prod": {"min_instances_cap": 100, "max_instances_cap": 1000}},
    "cdn": {"dev": {"signing_key": {"name": "kstream-dev-media-key-1", "secret_id": "kstream-dev-cdn-signing-key"}},
            "prod": {"signing_key": {"name": "kstream-media-key-1", "secret_id": "kstream-cdn-signing-key"}}},
    "callback_signing": {"dev": {"secret_id": "kstream-dev-callback-signing-secret"},
                         "prod": {"secret_id": "kstream-callback-signing-secret"}},
}


def environment_problems(root: dict[str, Any], name: str, stack: dict[str, Any]) -> list[str]:
    """An environment root is thin: a gcs backend, the google and google-beta providers on its project, region and
    labels, one call of terraform/stack giving every input the stack has no default for and its own values, outputs
    that pass the stack's through, and `moved` blocks taking each module's state under module.stack."""
    problems = []
    call = root["module"].get("stack")
    if set(root["module"]) != {"stack"} or call is None:
        return [f"{name}: calls {sorted(root['module'])}, not the stack alone"]
    if root["resource"] or root["data"]:
        problems.append(f"{name}: declares resources or data sources of its own")
    given = {k for k in call if k != "source" and not k.startswith("__")}
    required = {v for v, body in stack["variable"].items() if "default" not in body}
    problems += [f"{name}: does not give the stack {v}" for v in sorted(required - given)]
    undeclared = sorted(given - set(stack["variable"]))
    problems += [f"{name}: gives the stack {v}, which it does not declare" for v in undeclared]
    for var in root["variable"]:
        if not any(f"var.{var}" in str(value) for value in call.values()):
            problems.append(f"{name}: variable {var} does not reach the stack")
    if [b.get("backend") for b in root["terraform"]] != [[{"gcs": {}}]]:
        problems.append(f"{name}: state is not in the gcs backend")
    providers = {p: body for block in root["provider"] for p, body in block.items()}
    if set(providers) != {"google", "google-beta"}:
        problems.append(f"{name}: configures providers {sorted(providers)}")
    for p, body in providers.items():
        want = {"project": "${var.project_id}", "region": "${var.region}", "default_labels": call.get("labels")}
        if {k: body.get(k) for k in want} != want:
            problems.append(f"{name}: provider {p} is not on the project, region and labels the stack gets")
    for out, body in root["output"].items():
        if body.get("value") != f"${{module.stack.{out}}}" or out not in stack["output"]:
            problems.append(f"{name}: output {out} is not the stack's")
    want_moves = {(f"${{module.{m}}}", f"${{module.stack.module.{m}}}") for m in stack["module"]}
    if set(root["moved"]) != want_moves:
        off = sorted(set(root["moved"]) ^ want_moves)
        problems.append(f"{name}: moved blocks {off} do not match the modules the stack calls")
    return problems


def test_environments_call_the_shared_stack() -> None:
    stack = merged(STACK)
    roots = {env.name: merged(env) for env in ENVIRONMENTS}
    for env in ENVIRONMENTS:
        root = roots[env.name]
        assert (env / root["module"]["stack"]["source"]).resolve() == STACK.resolve(), env.name
        assert environment_problems(root, env.name, stack) == []
        # Its own values, as they were: what is genuinely per environment is written in its root.
        call, want = root["module"]["stack"], {k: v[env.name] for k, v in ENVIRONMENT_VALUES.items()}
        assert root["variable"]["prefix"]["default"] == want["prefix"], env.name
        assert call["storage"] == f"${{merge({{force_destroy = {str(want['force_destroy']).lower()}}}, var.storage)}}"
        for key in ("firestore", "scaling", "cdn", "callback_signing"):
            assert {k: v for k, v in call[key].items() if not k.startswith("__")} == want[key], (env.name, key)
        assert root["locals"]["labels"] == {"app": "kstream", "env": env.name}
        assert call["labels"] == "${local.labels}"
        assert root["variable"]["region"]["default"] == "asia-northeast3"
    # The same interface everywhere: the same inputs and outputs (what cloudbuild.yaml and docs/deploy.md use).
    # notification_channels (default empty: nobody paged) is per deployment too (cloudbuild.yaml passes it).
    assert {n: set(r["variable"]) for n, r in roots.items()} == {n: {"project_id", "region", "prefix", "domain",
                                                                    "service_callers", "storage",
                                                                    "notification_channels"} for n in roots}
    assert set(roots["dev"]["output"]) == set(roots["prod"]["output"]) == set(stack["output"])


def test_environment_check_catches_a_fat_root() -> None:
    stack = merged(STACK)
    root = merged(ENVIRONMENTS[0])
    fat = {**root, "module": {**root["module"], "edge": {"source": "../../modules/edge"}}}
    assert environment_problems(fat, "fat", stack)
    call = {k: v for k, v in root["module"]["stack"].items() if k != "firestore"}
    assert any("firestore" in p for p in environment_problems({**root, "module": {"stack": call}}, "x", stack))
    unmoved = {**root, "moved": root["moved"][1:]}
    assert any("moved" in p for p in environment_problems(unmoved, "x", stack))
    extra = {**root, "resource": {"google_storage_bucket": {"b": {}}}}
    assert environment_problems(extra, "x", stack)


def test_bundle_is_zipped_and_uploaded_by_content_hash() -> None:
    mod = merged(MODULES / "functions")
    archive = mod["data"]["archive_file"]["bundle"]
    assert archive["source_dir"] == "${var.bundle.source_dir}"
    obj = mod["resource"]["google_storage_bucket_object"]["bundle"]
    assert obj["name"] == "bundle-${data.archive_file.bundle.output_md5}.zip"
    assert obj["source"] == "${data.archive_file.bundle.output_path}"


def test_every_setting_a_function_reads_is_provided() -> None:
    loc = merged(MODULES / "functions")["locals"]
    plain = set(re.findall(r"\b(KSTREAM_[A-Z_]+)\s*=", loc["settings"]))
    provided = plain | set(loc["self_settings"]) | set(k for k in loc["secret_settings"] if not k.startswith("__"))
    real = settings_fields()
    assert provided, "no settings found in modules/functions/settings.tf"
    assert provided <= real, f"Terraform sets settings kstream does not have: {sorted(provided - real)}"
    for f in function_list():
        missing = set(f["env"]) - provided
        assert not missing, f"{f['name']} reads {sorted(missing)} which Terraform does not provide"
        unknown = set(f["env"]) - real
        assert not unknown, f"{f['name']} lists {sorted(unknown)}, not fields of kstream.settings.Settings"
    assert "KSTREAM_CDN_KEY_SECRET" in loc["secret_settings"], "the CDN key must come from Secret Manager"
    assert "KSTREAM_CALLBACK_SIGNING_SECRET" in loc["secret_settings"], "the callback key must come from Secret Manager"
    env_lists = {f["name"]: f["env"] for f in function_list()}
    assert secret_placement_problems(plain, loc["secret_settings"], env_lists) == []
    assert 'KSTREAM_SERVICE_ACCOUNTS = join(",", var.settings.service_callers)' in loc["settings"]
    assert "KSTREAM_TRANSCODE_TIMEOUT_SECONDS = tostring(var.settings.transcode_timeout_seconds)" in loc["settings"]


def test_secret_settings_reach_functions_as_secret_env_vars() -> None:
    mod = merged(MODULES / "functions")
    service = one(mod["resource"]["google_cloudfunctions2_function"]["this"]["service_config"])
    secret_env = dynamic(service, "secret_environment_variables")
    assert "local.secret_settings[setting]" in secret_env["for_each"]
    assert "contains(keys(local.secret_settings), setting)" in secret_env["for_each"]
    content = one(secret_env["content"])
    assert (content["secret"], content["version"]) == (
        "${secret_environment_variables.value.secret_id}", "${secret_environment_variables.value.version}")
    # Plain env never holds a secret: only local.settings (no secret in it) and self settings reach it.
    assert "contains(keys(local.settings), setting)" in mod["locals"]["environment"]
    settings_type = mod["variable"]["settings"]["type"]
    assert re.search(r"callback_secret\s*=\s*object\(\{\s*secret_id\s*=\s*string", settings_type), settings_type
    rules = [v["condition"] for v in mod["variable"]["settings"]["validation"]]
    extra_rule = [c for c in rules if "settings.extra" in c]
    assert extra_rule and '!endswith(k, "_SECRET")' in extra_rule[0], "settings.extra must refuse *_SECRET keys"


def test_secret_checks_catch_a_plain_secret() -> None:
    assert secret_placement_problems({"KSTREAM_CALLBACK_SIGNING_SECRET"}, {}, {})
    assert secret_placement_problems(set(), {"KSTREAM_CDN_KEY_SECRET": {"secret_id": "my-key", "version": "1"}}, {})
    assert secret_placement_problems(set(), {}, {"f": ["KSTREAM_CALLBACK_SIGNING_SECRET"]})


def test_transcode_timeout_is_a_typed_variable_with_the_settings_default() -> None:
    default = settings_default("KSTREAM_TRANSCODE_TIMEOUT_SECONDS")
    assert default == 21600
    settings_type = merged(MODULES / "functions")["variable"]["settings"]["type"]
    assert f"transcode_timeout_seconds = optional(number, {default})" in settings_type, settings_type
    var = merged(STACK)["variable"]["transcode_timeout_seconds"]
    assert var["type"] in ("number", "${number}") and var["default"] == default, var
    assert var["validation"], "stack: transcode_timeout_seconds has no validation"


def test_every_event_function_has_an_eventarc_trigger_with_retry_and_dead_letter() -> None:
    mod = merged(MODULES / "functions")
    fn = mod["resource"]["google_cloudfunctions2_function"]["this"]
    trigger = dynamic(fn, "event_trigger")
    assert trigger is not None, "no dynamic event_trigger block"
    assert trigger["for_each"] == "${each.value.event == null ? [] : [each.value.event]}"
    content = one(trigger["content"])
    assert content["event_type"] == "${event_trigger.value.type}"
    assert content["retry_policy"] == "RETRY_POLICY_RETRY"
    assert "var.event_sources.topics[event_trigger.value.topic]" in content["pubsub_topic"]
    filters = dynamic(content, "event_filters")
    assert "var.event_sources.buckets[event_trigger.value.bucket]" in filters["for_each"]
    assert one(filters["content"])["attribute"] == "bucket"

    dead = mod["resource"]["terraform_data"]["dead_letter"]
    assert "local.event_functions" in dead["for_each"]
    provisioner = one(dead["provisioner"])["local-exec"]
    assert provisioner["command"].endswith("post-deploy.sh dead-letter")
    assert provisioner["environment"]["DEAD_LETTER_TOPIC"] == "${var.dead_letter.topic}"
    assert "event_trigger[0].trigger" in provisioner["environment"]["TRIGGER"]
    script = POST_DEPLOY.read_text(encoding="utf-8")
    assert "--dead-letter-topic" in script and "--max-delivery-attempts" in script

    data = merged(MODULES / "data")
    assert "dead_letter" in data["resource"]["google_pubsub_topic"]
    subscription = data["resource"]["google_pubsub_subscription"]["dead_letter"]
    assert subscription["topic"] == "${google_pubsub_topic.dead_letter.id}"

    # Each event entry of the list: a type Terraform wires, a role the stack maps.
    storage = merged(MODULES / "storage")
    by_role = "${{for role, bucket in google_storage_bucket.this : role => bucket.name}}"
    assert storage["output"]["buckets"]["value"] == by_role
    storage_outputs = set(bucket_instances(storage))
    events = [f for f in function_list() if f.get("event")]
    assert events, "functions.yaml has no event functions"
    for f in events:
        event = f["event"]
        if event["type"] == STORAGE_FINALIZED:
            assert event.get("bucket") in storage_outputs, f"{f['name']}: bucket role {event.get('bucket')}"
        elif event["type"] != PUBSUB_PUBLISHED:
            pytest.fail(f"{f['name']}: event type {event['type']} has no Eventarc wiring")
    roots = {"stack": merged(STACK)["module"]["functions"]["event_sources"]["topics"]}
    assert topic_wiring_problems(function_list(), data["output"]["topics"]["value"], roots) == []
    roles = {f["event"].get("topic") for f in events if f["event"]["type"] == PUBSUB_PUBLISHED}
    assert {"transcoder_events", "sweeper"} <= roles, roles


def test_topic_wiring_check_catches_an_unmapped_role() -> None:
    data_topics = merged(MODULES / "data")["output"]["topics"]["value"]
    stray = [{"name": "x", "event": {"type": PUBSUB_PUBLISHED, "topic": "nowhere"}}]
    assert len(topic_wiring_problems(stray, data_topics, {"prod": {"nowhere": "${module.data.topics.other}"}})) == 2
    sweeper_fn = [f for f in function_list() if (f.get("event") or {}).get("topic") == "sweeper"]
    assert sweeper_fn, "functions.yaml has no function on the sweeper topic"
    assert topic_wiring_problems(sweeper_fn, data_topics, {"dev": {"transcoder_events": "x"}})


def test_every_index_is_deployed() -> None:
    data = merged(MODULES / "data")
    loc = data["locals"]
    assert loc["index_spec"] == "${jsondecode(file(var.indexes_file))}"
    assert "for ix in try(local.index_spec.indexes, [])" in loc["indexes"]
    index = data["resource"]["google_firestore_index"]["this"]
    assert index["for_each"] == "${local.indexes}"
    assert index["collection"] == "${each.value.collectionGroup}"
    fields = dynamic(index, "fields")
    assert fields["for_each"] == "${each.value.fields}"
    assert one(fields["content"])["field_path"] == "${fields.value.fieldPath}"
    assert "for fo in try(local.index_spec.fieldOverrides, [])" in loc["field_overrides"]
    assert data["resource"]["google_firestore_field"]["this"]["for_each"] == "${local.field_overrides}"

    spec = json.loads(INDEXES_JSON.read_text(encoding="utf-8"))
    assert isinstance(spec.get("indexes"), list) and isinstance(spec.get("fieldOverrides", []), list)
    keys = []
    for ix in spec["indexes"]:
        assert ix["collectionGroup"] and ix["fields"], ix
        for field in ix["fields"]:
            assert field["fieldPath"] and len({"order", "arrayConfig", "vectorConfig"} & set(field)) == 1, field
        keys.append((ix["collectionGroup"], ix.get("queryScope", "COLLECTION"),
                     tuple((f["fieldPath"], f.get("order") or f.get("arrayConfig")) for f in ix["fields"])))
    assert len(keys) == len(set(keys)), "duplicate index in firestore.indexes.json (Terraform keys would collide)"


def test_no_bucket_is_public() -> None:
    resources = expanded_resources()
    assert [n for t, n, _ in resources if t == "google_storage_bucket"], "no buckets found"
    assert bucket_problems(resources) == []
    texts = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8")
             for p in [*tf_files(), *TF.rglob("*.sh"), *TF.rglob("*.tftest.hcl")]}
    assert public_member_problems(texts) == []


def test_public_bucket_checks_catch_a_public_bucket() -> None:
    bad = parse_text('resource "google_storage_bucket" "b" {\n  name = "x"\n  uniform_bucket_level_access = false\n}\n')
    resources = [(t, n, b) for block in bad["resource"] for t, named in block.items() for n, b in named.items()]
    assert len(bucket_problems(resources)) == 2
    assert public_member_problems({"x.tf": 'member = "allUsers"'})
    # A bucket of the for_each map that takes its access settings from an entry is checked per entry.
    storage = merged(MODULES / "storage")
    body = {**storage["resource"]["google_storage_bucket"]["this"],
            "uniform_bucket_level_access": "${each.value.uniform}", "public_access_prevention": "${each.value.pap}"}
    entries = {k: {**v, "uniform": True, "pap": "enforced"} for k, v in storage["locals"]["buckets"].items()}
    entries["media"] = {**entries["media"], "uniform": False, "pap": "inherited"}
    leaky = {**storage, "resource": {"google_storage_bucket": {"this": body}},
             "locals": {**storage["locals"], "buckets": entries}}
    got = bucket_problems([("google_storage_bucket", k, b) for k, b in bucket_instances(leaky).items()])
    assert got == ["media: uniform_bucket_level_access is not true", "media: public_access_prevention is not enforced"]


def test_every_bucket_of_the_map_is_private_and_keeps_its_name() -> None:
    """modules/storage makes its buckets from one map (local.buckets): every entry gets uniform bucket-level access
    and public access prevention, the names are the ones the four bucket resources had, and `moved` blocks take
    the old addresses to the map's keys (no bucket is replaced)."""
    storage = merged(MODULES / "storage")
    buckets = bucket_instances(storage)
    suffixes = {"upload": "uploads", "source": "sources", "media": "media", "bundles": "bundles"}
    assert set(buckets) == set(suffixes)
    for role, b in buckets.items():
        assert b["uniform_bucket_level_access"] is True, role
        assert b["public_access_prevention"] == "enforced", role
        assert b["name"] == f"${{var.prefix}}-${{var.project_id}}-{suffixes[role]}", role
        assert (b["location"], b["storage_class"], b["labels"]) == ("${var.location}", "STANDARD", "${var.labels}")
        assert b["force_destroy"] == (True if role == "bundles" else "${var.config.force_destroy}"), role
    moves = set(storage["moved"])
    for role in suffixes:
        assert (f"${{google_storage_bucket.{role}}}", f'${{google_storage_bucket.this["{role}"]}}') in moves, role
    iam = storage["resource"]["google_storage_bucket_iam_member"]
    assert iam["transcoder_reads_sources"]["bucket"] == '${google_storage_bucket.this["source"].name}'
    assert iam["transcoder_writes_media"]["bucket"] == '${google_storage_bucket.this["media"].name}'
    # Each checkov skip stays on the bucket resource, with its reason.
    skips = [c["value"] for c in storage["resource"]["google_storage_bucket"]["this"]["__comments__"]]
    assert {re.match(r"checkov:skip=(CKV_GCP_\d+):.{20,}", c).group(1) for c in skips} == {"CKV_GCP_62", "CKV_GCP_78"}
    unversioned = {role for role, b in buckets.items() if one(b["versioning"])["enabled"] is not True}
    assert unversioned == {"upload", "bundles"}, "the CKV_GCP_78 skip's reason names upload and bundles only"


def test_upload_bucket_has_cors_and_lifecycle() -> None:
    storage = merged(MODULES / "storage")
    buckets = bucket_instances(storage)
    upload = buckets["upload"]
    cors = one(upload["cors"])
    assert "PUT" in cors["method"]
    headers = {h.lower() for h in cors["response_header"]}
    assert {"content-md5", "content-type"} <= headers
    assert cors["origin"] == "${var.config.cors_origins}"
    rules = {one(one(r["action"]))["type"]: one(r["condition"]) for r in upload["lifecycle_rule"]}
    assert rules["Delete"]["age"] == "${var.config.abandoned_upload_days}"
    assert "AbortIncompleteMultipartUpload" in rules
    config_type = storage["variable"]["config"]["type"]
    default_days = re.search(r"abandoned_upload_days\s*=\s*optional\(number, (\d+)\)", config_type)
    assert default_days and default_days.group(1) == "2", "abandoned chunks are deleted after 2 days by default"
    assert upload["soft_delete_policy"] == [{"retention_duration_seconds": 0}], "deleted chunks are not kept"
    for name in ("source", "media"):
        assert one(buckets[name]["versioning"])["enabled"] is True, name
        rule = one(buckets[name]["lifecycle_rule"])
        assert one(rule["condition"])["days_since_noncurrent_time"] == "${var.config.noncurrent_version_days}", name
        assert one(rule["condition"])["with_state"] == "ARCHIVED" and one(rule["action"])["type"] == "Delete", name
    media_cors = one(buckets["media"]["cors"])
    assert media_cors["method"] == ["GET", "HEAD"] and media_cors["origin"] == "${var.config.cors_origins}"
    assert buckets["source"]["cors"] == buckets["bundles"]["cors"] == [], "only browsers' buckets answer CORS"
    bundle_rule = one(buckets["bundles"]["lifecycle_rule"])
    assert one(bundle_rule["condition"])["age"] == "${var.config.bundle_retention_days}"


def test_service_account_roles_are_least_privilege() -> None:
    iam = merged(MODULES / "functions")["locals"]
    writers = iam["bucket_writers"]
    names = {f["name"] for f in function_list()}
    for bucket, listed in writers.items():
        assert set(listed) <= names, f"bucket_writers.{bucket} names unknown functions {set(listed) - names}"
    assert bucket_write_problems(iam) == []
    roles = function_roles(iam)
    assert role_allowlist_problems(roles, secret_setting_names(iam)) == []
    # Sanity of the derivation on the real list: the signer signs, job creators create, readers only read.
    signers = {f["name"] for f in function_list() if "KSTREAM_SIGNER_EMAIL" in f["env"]}
    assert signers and all("roles/iam.serviceAccountTokenCreator" in roles[n] for n in signers)
    creators = {n for n, r in roles.items() if "roles/transcoder.admin" in r}
    assert creators == {f["name"] for f in function_list() if "KSTREAM_TRANSCODER_TOPIC" in f["env"]}
    for f in function_list():
        assert not ({"roles/transcoder.admin", "roles/transcoder.viewer"} <= roles[f["name"]]), f["name"]
    secret_readers = {n for n, r in roles.items() if "roles/secretmanager.secretAccessor" in r}
    assert secret_readers == {f["name"] for f in function_list() if set(f["env"]) & secret_setting_names(iam)}
    assert any("KSTREAM_CALLBACK_SIGNING_SECRET" in f["env"] for f in function_list() if f["name"] in secret_readers)


def test_role_checks_catch_excess_roles() -> None:
    iam = merged(MODULES / "functions")["locals"]
    greedy = {**iam, "project_role_rules": {**iam["project_role_rules"],
                                            "roles/transcoder.admin": {"kinds": ["user"], "env": [], "unless_env": []}}}
    assert role_allowlist_problems(function_roles(greedy))
    leaky = {**iam, "bucket_writers": {**iam["bucket_writers"], "media": ["stream"]}}
    assert bucket_write_problems(leaky)
    # A secret role for a function that reads no secret.
    nosy = {**iam, "project_role_rules": {**iam["project_role_rules"], "roles/secretmanager.secretAccessor": {
        "kinds": ["event"], "env": [], "unless_env": []}}}
    assert any("secret access without" in p for p in role_allowlist_problems(function_roles(nosy),
                                                                             secret_setting_names(iam)))
    assert role_string_problems({"x.tf": 'role = "roles/editor"'})
    assert role_string_problems({"x.tf": 'role = "roles/storage.admin"'})
    assert role_string_problems({"x.tf": 'role = "roles/cloudsql.client"'})


def test_iam_rules_are_applied_as_written() -> None:
    """The for-expressions that turn iam.tf's tables into grants are the ones function_roles() mirrors."""
    mod = merged(MODULES / "functions")
    loc = mod["locals"]
    assert "contains(rule.kinds, f.kind)" in loc["project_grants"]
    assert "setintersection(toset(rule.env), toset(f.env))" in loc["project_grants"]
    assert "length(setintersection(toset(rule.unless_env), toset(f.env))) == 0" in loc["project_grants"]
    assert "contains(local.bucket_writers[bucket], name)" in loc["bucket_grants"]
    assert "if contains(f.env, setting)" in loc["bucket_grants"]
    res = mod["resource"]
    assert res["google_project_iam_member"]["function"]["for_each"] == "${local.project_grants}"
    assert res["google_storage_bucket_iam_member"]["function"]["for_each"] == "${local.bucket_grants}"
    assert res["google_secret_manager_secret_iam_member"]["function"]["for_each"] == "${local.secret_grants}"
    assert "for setting, secret in local.secret_settings" in loc["secret_grants"]
    assert "if contains(f.env, setting)" in loc["secret_grants"]
    assert "secret_id = secret.secret_id" in loc["secret_grants"]
    accessor = res["google_secret_manager_secret_iam_member"]["function"]
    assert accessor["secret_id"] == "${each.value.secret_id}"
    assert accessor["role"] == "roles/secretmanager.secretAccessor"
    signer = res["google_service_account_iam_member"]["signs_as_itself"]
    assert 'contains(f.env, "KSTREAM_SIGNER_EMAIL")' in signer["for_each"]
    assert signer["role"] == "roles/iam.serviceAccountTokenCreator"
    # ON ITSELF: the account the binding is on is the member's own account.
    assert signer["service_account_id"] == "${google_service_account.function[each.key].name}"
    assert signer["member"] == "serviceAccount:${google_service_account.function[each.key].email}"
    invoker = res["google_cloud_run_v2_service_iam_member"]["event_invoker"]
    assert invoker["for_each"] == "${local.event_functions}"
    assert invoker["name"] == "${google_cloudfunctions2_function.this[each.key].name}"
    assert invoker["member"] == "serviceAccount:${google_service_account.function[each.key].email}"
    authoritative = [t for _, t, _, _ in all_resources() if re.search(r"_iam_(policy|binding)$", t)]
    assert authoritative == [], "authoritative IAM would remove grants made elsewhere"


def test_every_role_anywhere_is_allowed() -> None:
    texts = {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in [*tf_files(), *TF.rglob("*.sh")]}
    assert any("roles/" in t for t in texts.values())
    assert role_string_problems(texts) == []


def test_no_service_account_keys() -> None:
    resources = [(t, n, b) for _, t, n, b in all_resources()]
    providers = [p for path in tf_files() for p in parse_file(path).get("provider", [])]
    assert key_problems(resources, providers) == []
    bad = parse_text('resource "google_service_account_key" "k" {\n  service_account_id = "x"\n}\n'
                     'provider "google" {\n  credentials = "key.json"\n}\n')
    bad_resources = [(t, n, b) for block in bad["resource"] for t, named in block.items() for n, b in named.items()]
    assert len(key_problems(bad_resources, bad["provider"])) == 2


def _needed_providers(directory: Path) -> set[str]:
    """Providers a module's resources and data sources use (terraform_data is built in)."""
    doc = merged(directory)
    needed = set()
    for rtype, named in [*doc["resource"].items(), *doc["data"].items()]:
        if rtype.startswith("google_"):
            needed.add("google")
        elif rtype.startswith("archive_"):
            needed.add("archive")
        beta = ("google-beta", "${google-beta}")
        needed |= {"google-beta" for body in named.values() if body.get("provider") in beta}
    return needed


def test_provider_versions_are_pinned_once() -> None:
    modules = sorted(p for p in MODULES.iterdir() if p.is_dir())
    dirs = [*modules, STACK, *ENVIRONMENTS]
    blocks = {str(d.relative_to(TF)): merged(d)["terraform"] for d in dirs}
    needed = {str(d.relative_to(TF)): _needed_providers(d) for d in dirs}
    for env in ENVIRONMENTS:  # the providers a root configures
        needed[str(env.relative_to(TF))] |= {name for block in merged(env)["provider"] for name in block}
    # The stack declares every provider its modules use (it passes them down implicitly).
    needed["stack"] = set().union(*(needed[str(m.relative_to(TF))] for m in modules))
    assert needed["stack"] == {"google", "google-beta", "archive"}
    assert pin_problems(blocks, needed, "stack") == []
    pinned = {"required_version": ">= 1.7.0", "required_providers": [
        {"google": {"source": "hashicorp/google", "version": "~> 6.40"}}]}
    assert pin_problems({"stack": [pinned], "modules/x": [{"required_providers": [
        {"google": {"source": "hashicorp/google", "version": "~> 6.40"}}]}]}, {"modules/x": {"google"}}, "stack")
    assert pin_problems({"stack": [{"required_version": ">= 1.7.0", "required_providers": [
        {"google": {"source": "hashicorp/google", "version": ">= 6.0"}}]}]}, {"stack": {"google"}}, "stack")
    assert pin_problems({"stack": [pinned], "modules/x": [{}]}, {"modules/x": {"google", "archive"}}, "stack")


def test_every_variable_and_output_has_a_description() -> None:
    dirs = [*sorted(p for p in MODULES.iterdir() if p.is_dir()), STACK, *ENVIRONMENTS]
    problems = [p for d in dirs for p in description_problems(merged(d), str(d.relative_to(TF)))]
    assert problems == []
    bad = merged_text('variable "v" {\n  type = string\n}\noutput "o" {\n  value = 1\n}\n')
    assert len(description_problems(bad, "x")) == 3  # two missing descriptions, one nullable variable


def merged_text(text: str) -> dict[str, Any]:
    doc = parse_text(text)
    out: dict[str, Any] = {"variable": {}, "output": {}}
    for kind in out:
        for block in doc.get(kind, []):
            out[kind].update(block)
    return out


def test_project_enables_the_required_apis() -> None:
    services = merged(MODULES / "project")["locals"]["services"]
    enabled = set(re.findall(r"([a-z]+\.googleapis\.com)", services))
    assert enabled >= REQUIRED_APIS, f"missing APIs: {sorted(REQUIRED_APIS - enabled)}"
    svc = merged(MODULES / "project")["resource"]["google_project_service"]["this"]
    assert svc["disable_on_destroy"] is False


def test_transcoder_agent_may_publish_job_events() -> None:
    data = merged(MODULES / "data")
    grant = data["resource"]["google_pubsub_topic_iam_member"]["transcoder_publishes"]
    assert grant["topic"] == "${google_pubsub_topic.transcoder_events.name}"
    assert grant["role"] == "roles/pubsub.publisher"
    assert grant["member"] == "serviceAccount:${var.service_agents.transcoder}"
    project = merged(MODULES / "project")
    assert "transcoder.googleapis.com" in project["resource"]["google_project_service_identity"]["this"]["for_each"]


def _terraform_texts() -> dict[str, str]:
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in [*tf_files(), *TF.rglob("*.sh")]}


def test_cloud_scheduler_starts_the_sweep_on_its_topic() -> None:
    data = merged(MODULES / "data")
    assert scheduler_problems(data, _terraform_texts()) == []
    assert data["output"]["topics"]["value"]["sweeper"] == "${google_pubsub_topic.sweeper.id}"
    project = merged(MODULES / "project")
    agents = project["output"]["service_agents"]["value"]
    assert agents["scheduler"] == "service-${local.project_number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
    assert "scheduler" in data["variable"]["service_agents"]["type"]
    # Every 15 minutes by default, everywhere; the validation accepts unix-cron and refuses anything else.
    places = [("modules/data", data["variable"]), ("stack", merged(STACK)["variable"])]
    for where, variables in places:
        var = variables["sweep_schedule"]
        assert var["default"] == "*/15 * * * *", where
        condition = one(var["validation"])["condition"]
        pattern = re.search(r'regex\("(.+?)", var\.sweep_schedule\)', condition)
        assert pattern, f"{where}: sweep_schedule validation is not a regex: {condition}"
        rx = re.compile(pattern.group(1).replace("\\\\", "\\"))
        assert rx.search(var["default"]) and rx.search("0 */2 * * MON-FRI"), where
        for bad in ("every 15 minutes", "*/15 * * *", "*/15 * * * * *", ""):
            assert not rx.search(bad), f"{where}: sweep_schedule validation accepts {bad!r}"


def test_scheduler_check_catches_a_misrouted_job_and_a_broad_grant() -> None:
    data = merged(MODULES / "data")
    texts = _terraform_texts()
    job = data["resource"]["google_cloud_scheduler_job"]["sweeper"]
    misrouted = {**data, "resource": {**data["resource"], "google_cloud_scheduler_job": {"sweeper": {
        **job, "pubsub_target": [{"topic_name": "${google_pubsub_topic.transcoder_events.id}"}]}}}}
    assert len(scheduler_problems(misrouted, texts)) == 2  # wrong topic, empty message
    broad = {**texts, "x.tf": 'member = "serviceAccount:${var.service_agents.scheduler}"'}
    assert scheduler_problems(data, broad)
    assert scheduler_problems({"resource": {}}, texts)


def test_cdn_signs_with_a_key_from_secret_manager() -> None:
    cdn = merged(MODULES / "cdn")
    bucket = cdn["resource"]["google_compute_backend_bucket"]["media"]
    assert bucket["enable_cdn"] is True
    assert one(bucket["cdn_policy"])["signed_url_cache_max_age_sec"] == "${var.cache.signed_url_cache_max_age_sec}"
    key = cdn["resource"]["google_compute_backend_bucket_signed_url_key"]["media"]
    assert key["key_value"] == "${data.google_secret_manager_secret_version.signing_key.secret_data}"
    assert "google_secret_manager_secret_version" in cdn["data"]


def test_edge_routes_every_spec_path_to_its_function() -> None:
    edge = merged(MODULES / "edge")
    for rtype in ("google_compute_region_network_endpoint_group", "google_compute_backend_service"):
        assert edge["resource"][rtype]["function"]["for_each"] == "${var.functions}", rtype
    neg = edge["resource"]["google_compute_region_network_endpoint_group"]["function"]
    assert neg["network_endpoint_type"] == "SERVERLESS"
    backend = edge["resource"]["google_compute_backend_service"]["function"]
    assert backend["security_policy"] == "${google_compute_security_policy.edge.id}"
    rules = edge["locals"]["route_rules"]
    for piece in ("priority = 10", "priority = 100 + i", "priority = 1000 + i", "/api/v1/", "/api/*/", "\"/\"",
                  "priority = 2000", "google_compute_backend_service.function[local.default_function].id"):
        assert piece in rules, f"routes.tf no longer builds {piece!r}: update route_table() here"
    assert "100 - r.literal_segments" in edge["locals"]["route_order"]
    for piece in ("method = local.method[name]", "method = null"):
        assert piece in rules, f"routes.tf no longer builds {piece!r}: update route_table() here"
    assert "reverse([for name in local.route_order : name if var.functions[name].path == path])[0]" in \
        edge["locals"]["path_last"]  # the last function of a path in route order takes every method
    assert "local.path_last[f.path] == name ? null : upper(f.method)" in edge["locals"]["method"]
    url_map = edge["resource"]["google_compute_url_map"]
    route_rule = dynamic(one(url_map["https"]["path_matcher"]), "route_rules")
    assert route_rule["for_each"] == "${local.route_rules}"
    assert one(url_map["http_redirect"]["default_url_redirect"])["https_redirect"] is True
    assert routing_problems(function_list()) == []
    # One listener per port on the one address (a for_each since it replaced two copies; state moved).
    rule = edge["resource"]["google_compute_global_forwarding_rule"]["this"]
    listeners = {k: v for k, v in rule["for_each"].items() if not k.startswith("__")}
    assert listeners == {"https": {"port_range": "443", "target": "${google_compute_target_https_proxy.this.id}"},
                         "http": {"port_range": "80", "target": "${google_compute_target_http_proxy.redirect.id}"}}
    assert (rule["target"], rule["port_range"]) == ("${each.value.target}", "${each.value.port_range}")
    assert rule["ip_address"] == "${google_compute_global_address.this.address}"
    assert rule["name"] == "${var.prefix}-edge-${each.key}"
    for key in listeners:
        assert (f"${{google_compute_global_forwarding_rule.{key}}}",
                f'${{google_compute_global_forwarding_rule.this["{key}"]}}') in edge["moved"], key


def test_routing_check_catches_an_ambiguous_route() -> None:
    # Two templates that only differ by parameter names would reach the same rule first.
    clash = [{"name": "a", "http": {"method": "GET", "path": "/api/items/{id}"}},
             {"name": "b", "http": {"method": "GET", "path": "/api/items/{slug}"}}]
    assert routing_problems(clash)


def test_armor_throttles_at_the_edge() -> None:
    policy = merged(MODULES / "edge")["resource"]["google_compute_security_policy"]["edge"]
    actions = {r["action"]: r for r in policy["rule"]}
    assert {"throttle", "rate_based_ban"} & set(actions)
    for action in ("throttle", "rate_based_ban"):
        if action in actions:
            options = one(actions[action]["rate_limit_options"])
            assert options["exceed_action"] == "deny(429)"
            assert options["enforce_on_key"] == "IP"
    cert = merged(MODULES / "edge")["resource"]["google_compute_managed_ssl_certificate"]["this"]
    assert one(cert["managed"])["domains"] == ["${var.domain}"]


def test_armor_over_limit_answer_is_the_envelope() -> None:
    """Cloud Armor's deny(429) reaches the client as the API's error envelope: a JSON object that Terraform uploads
    to a private bucket behind a backend bucket, served by a custom error response policy that matches 429 only."""
    edge = merged(MODULES / "edge")
    res = edge["resource"]
    obj = res["google_storage_bucket_object"]["rate_limit"]
    assert obj["bucket"] == "${google_storage_bucket.errors.name}"
    assert (obj["name"], obj["source"]) == ("${local.rate_limit_error.object}", "${local.rate_limit_error.file}")
    assert (obj["content_type"], obj["cache_control"]) == ("application/json", "no-store")
    error = edge["locals"]["rate_limit_error"]
    source = resolve_module_path(error["file"], MODULES / "edge", {})
    assert source == (MODULES / "edge" / "errors" / "rate-limit-exceeded.json").resolve()

    # The body is the spec's envelope with code RATE_LIMIT_EXCEEDED. contracts' model requires timestamp and
    # requestId, which a static object cannot know: those two, and nothing else, are what it lacks.
    from pydantic import ValidationError

    from contracts.envelope import ErrorResponse
    from contracts.errors import HTTP_STATUS, ErrorCode
    body = json.loads(source.read_text(encoding="utf-8"))
    assert body["error"]["code"] == ErrorCode.RATE_LIMIT_EXCEEDED and HTTP_STATUS[ErrorCode.RATE_LIMIT_EXCEEDED] == 429
    with pytest.raises(ValidationError) as refused:
        ErrorResponse.model_validate(body)
    assert sorted((e["type"], e["loc"]) for e in refused.value.errors()) == [
        ("missing", ("error", "requestId")), ("missing", ("error", "timestamp"))]
    full = ErrorResponse.model_validate(
        {"error": {**body["error"], "timestamp": "2025-01-01T00:00:00Z", "requestId": "r-1"}})
    assert full.error.code == ErrorCode.RATE_LIMIT_EXCEEDED and full.error.message.strip()
    assert full.error.details == {"source": "edge", "scope": "client IP address"}

    # A private bucket (read by the Cloud CDN fill agent, which exists once modules/cdn's key does) behind a
    # Cloud CDN backend bucket that does not cache the no-store object.
    bucket = res["google_storage_bucket"]["errors"]
    assert bucket_problems([("google_storage_bucket", "errors", bucket)]) == []
    assert bucket["name"] == "${var.prefix}-${var.project_id}-errors"
    skips = [c["value"] for c in bucket["__comments__"] if c["value"].startswith("checkov:skip")]
    assert [re.match(r"checkov:skip=(CKV_GCP_\d+):.{20,}", c).group(1) for c in skips] == ["CKV_GCP_62"]
    grant = res["google_storage_bucket_iam_member"]["cdn_fill_reads_errors"]
    assert (grant["bucket"], grant["role"], grant["member"]) == (
        "${google_storage_bucket.errors.name}", "roles/storage.objectViewer", "serviceAccount:${var.cdn_fill_agent}")
    backend = res["google_compute_backend_bucket"]["errors"]
    assert (backend["bucket_name"], backend["enable_cdn"]) == ("${google_storage_bucket.errors.name}", True)
    assert one(backend["cdn_policy"])["cache_mode"] == "USE_ORIGIN_HEADERS"
    assert merged(STACK)["module"]["edge"]["cdn_fill_agent"] == "${module.cdn.fill_agent}"
    fill_agent = merged(MODULES / "cdn")["output"]["fill_agent"]
    assert fill_agent["value"] == "${var.cdn_fill_agent}"
    assert fill_agent["depends_on"] == ["${google_compute_backend_bucket_signed_url_key.media}"]

    # The policy: on the route rules only (never a default of the path matcher or URL map, which would also reach
    # the rules that have none), matching 429 only, serving the object with 429. Cloud Armor answers 429.
    url_map = res["google_compute_url_map"]["https"]
    matcher = one(url_map["path_matcher"])
    assert "default_custom_error_response_policy" not in url_map
    assert "default_custom_error_response_policy" not in matcher
    policy = dynamic(one(dynamic(matcher, "route_rules")["content"]), "custom_error_response_policy")
    assert policy is not None, "routes.tf: no custom_error_response_policy on the route rules"
    assert policy["for_each"] == "${route_rules.value.edge_429 ? [google_compute_backend_bucket.errors.id] : []}"
    content = one(policy["content"])
    assert content["error_service"] == "${custom_error_response_policy.value}"
    assert {k: v for k, v in one(content["error_response_rule"]).items() if not k.startswith("__")} == {
        "match_response_codes": ["429"], "path": "/${local.rate_limit_error.object}", "override_response_code": 429}
    assert "/" + error["object"] == "/errors/rate-limit-exceeded.json"
    armor = res["google_compute_security_policy"]["edge"]["rule"]
    limits = [one(r["rate_limit_options"]) for r in armor if "rate_limit_options" in r]
    assert limits and {o["exceed_action"] for o in limits} == {"deny(429)"}


def test_functions_that_answer_their_own_429_keep_it() -> None:
    """The edge 429 policy is on every function route (and the catch-all) except those of the functions that answer
    429 themselves: upload-start, the only one whose code raises RateLimited (10 starts per user per hour)."""
    edge = merged(MODULES / "edge")
    self_limited = {f["name"] for f in function_list() if f.get("rate_limited")}
    assert self_limited == {"upload-start"}
    assert "rate_limited" in str(edge["variable"]["functions"]["type"])
    outputs = merged(MODULES / "functions")["output"]["http_functions"]["value"]
    assert "rate_limited = f.rate_limited" in outputs
    assert "rate_limited  = try(f.rate_limited, false)" in (MODULES / "functions" / "main.tf").read_text()
    rules = edge["locals"]["route_rules"]
    assert rules.count("edge_429 = !var.functions[name].rate_limited") == 2, "exact+v1 and any-version"
    assert re.search(r"priority = 10, [^}]*edge_429 = false\}", rules), "media: no Cloud Armor there"
    assert re.search(r'priority = 2000, [^}]*prefixes = \["/"\], [^}]*'
                     r"edge_429 = !var\.functions\[local\.default_function\]\.rate_limited\}", rules)
    # Who answers 429 in the functions' code (read, not imported): RateLimited is raised in the upload-start slot
    # check only, nothing else names the code, and main.py binds upload-start to the handler that takes the slot.
    kstream = REPO / "functions" / "kstream"
    sources = {str(p.relative_to(kstream)): p.read_text(encoding="utf-8") for p in kstream.rglob("*.py")}
    assert {name for name, text in sources.items() if re.search(r"(?<!class )\bRateLimited\(", text)} == {
        "uploads/repository.py"}
    assert {name for name, text in sources.items() if "RATE_LIMIT_EXCEEDED" in text} == {"errors.py"}
    assert {name for name, text in sources.items() if re.search(r"\.take_start_slot\(", text)} == {"uploads/service.py"}
    assert re.search(r"\.start\(request\.user, body\)", sources["api/uploads.py"])
    main = (REPO / "functions" / "main.py").read_text(encoding="utf-8")
    assert 'http_function("upload-start", "kstream.api.uploads:start")' in main
    functions = function_list()
    table = route_table(functions, self_limited=frozenset(self_limited))
    assert edge_429_problems(table, functions, self_limited) == []


def test_edge_429_check_catches_a_policy_on_upload_start() -> None:
    functions = function_list()
    everywhere = edge_429_problems(route_table(functions, self_limited=frozenset()), functions, {"upload-start"})
    assert everywhere and all("upload-start" in p for p in everywhere)
    assert len(everywhere) == 3  # /api/upload/start, /api/v1/..., /api/v7/...
    nowhere = route_table(functions, self_limited=frozenset(f["name"] for f in functions))
    assert len(edge_429_problems(nowhere, functions, {"upload-start"})) > len(functions)


def test_latency_metric_reads_the_request_log() -> None:
    metrics = merged(MODULES / "observability")["resource"]["google_logging_metric"]
    assert "request_latency" not in metrics  # one request metric: the spec's
    metric = metrics["http_request_duration_seconds"]
    assert metric["name"].endswith("/http_request_duration_seconds")
    assert metric["value_extractor"].startswith("REGEXP_EXTRACT(${local.http}.latency,")
    assert metric["label_extractors"] == {
        "method": "EXTRACT(${local.http}.requestMethod)",
        "route": "EXTRACT(jsonPayload.route)",
        "status_code": "EXTRACT(${local.http}.status)",
    }
    descriptor = one(metric["metric_descriptor"])
    assert (descriptor["metric_kind"], descriptor["value_type"]) == ("DELTA", "DISTRIBUTION")


def test_names_derive_from_the_prefix() -> None:
    random_resources = [t for _, t, _, _ in all_resources() if t.startswith("random_")]
    assert random_resources == []
    assert merged(STACK)["variable"]["prefix"]["validation"], "stack: prefix has no validation"
    # Service account ids (<= 30 chars) for the environments' default prefixes: valid and distinct.
    defaults = {merged(env)["variable"]["prefix"]["default"] for env in ENVIRONMENTS}
    assert defaults == {"kstream", "kstream-dev"}
    for prefix in sorted(defaults):
        ids = set()
        for f in function_list():
            long = f"{prefix}-{f['name']}"
            digest = hashlib.sha256(f["name"].encode()).hexdigest()[:8]
            account = long if len(long) <= 30 else f"{long[:21].rstrip('-')}-{digest}"
            assert re.fullmatch(r"[a-z][-a-z0-9]{4,28}[a-z0-9]", account), account
            ids.add(account)
        assert len(ids) == len(function_list()), f"service account ids collide for prefix {prefix}"
    accounts = merged(MODULES / "functions")["locals"]["account_ids"]
    assert "substr(sha256(name), 0, 8)" in accounts and "substr(\"${var.prefix}-${name}\", 0, 21)" in accounts


def test_tftest_files_use_mock_providers_and_plan_only() -> None:
    files = sorted((TF / "tests").glob("*.tftest.hcl"))
    assert files, "no terraform/tests/*.tftest.hcl"
    for path in files:
        doc = parse_file(path)
        mocks = {name for block in doc.get("mock_provider", []) for name in block}
        assert "google" in mocks, f"{path.name}: no mock_provider \"google\""
        runs = [body for block in doc.get("run", []) for body in block.values()]
        assert runs and all(run.get("command") == "${plan}" or run.get("command") == "plan" for run in runs), path.name


def test_cloudbuild_pipeline() -> None:
    build = yaml.safe_load((REPO / "cloudbuild.yaml").read_text(encoding="utf-8"))
    steps = build["steps"]
    ids = [s["id"] for s in steps]
    assert len(ids) == len(set(ids))
    subs = build["substitutions"]
    assert all(k.startswith("_") for k in subs)
    assert {"_ENV", "_REGION", "_TF_STATE_BUCKET", "_PREFIX"} <= set(subs)
    for step in steps:
        assert "waitFor" in step, step["id"]
        assert set(step["waitFor"]) <= set(ids) | {"-"}, step["id"]
        image = re.sub(r"\$\{(_\w+)\}", lambda m: str(subs[m.group(1)]), step["name"])
        assert not image.endswith(":latest") and re.search(r":[^:]*\d", image), f"{step['id']}: unpinned {image}"
    text = {s["id"]: " ".join(map(str, s.get("args", []))) for s in steps}
    assert "make test" in text["test"] and "emulators" in next(s["name"] for s in steps if s["id"] == "test")
    assert "make lint" in text["lint"] and "make bundle" in text["bundle"]
    assert "fmt" in text["terraform-fmt"] and "-check" in text["terraform-fmt"]
    assert "plan" in text["terraform-plan"]
    assert 'if [ "$BRANCH_NAME" != "main" ]' in text["terraform-apply"]
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
    assert build["timeout"].endswith("s")
    assert subs["_TERRAFORM_IMAGE"] == "hashicorp/terraform:1.11.4"
    # Every input of the environment roots comes from a substitution: one left out would be reset to its default
    # (or, without one, stop the apply) on every build.
    passed = set(re.findall(r"-var='?(\w+)=", text["terraform-plan"]))
    for env in ENVIRONMENTS:
        assert set(merged(env)["variable"]) == passed, (env.name, set(merged(env)["variable"]) ^ passed)


def test_terraform_fmt() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail("terraform is not on PATH: install Terraform 1.11.4 to run `terraform fmt -check` (not skipped)")
    result = subprocess.run([terraform, "fmt", "-recursive", "-check", "-diff", str(TF)],
                            capture_output=True, text=True, timeout=120, check=False)
    hint = "terraform fmt -check failed (fix: terraform fmt -recursive terraform)"
    assert result.returncode == 0, f"{hint}:\n{result.stdout}{result.stderr}"


# ------------------------------------------------------------------------------------ alerts and dashboard

OBSERVABILITY = MODULES / "observability"
KSTREAM_SOURCE = REPO / "functions" / "kstream"
SEVERITIES = {"CRITICAL", "ERROR", "WARNING"}
# Metric types Google Cloud defines that the alert policies and the dashboard may read; the rest must be this
# module's own log-based metrics.
BUILT_IN_METRICS = {
    "run.googleapis.com/request_count",
    "pubsub.googleapis.com/subscription/num_undelivered_messages",
    "pubsub.googleapis.com/subscription/dead_letter_message_count",
    "networksecurity.googleapis.com/https/request_count",
}


def _unescape(text: str) -> str:
    return text.replace('\\"', '"')


def expand_locals(text: str, module_locals: dict[str, Any], depth: int = 5) -> str:
    """``text`` with each ``local.NAME`` reference replaced by that local's own text (nested up to ``depth``)."""
    def value(found: re.Match[str]) -> str:
        name, key = found.group(1) or found.group(3), found.group(2) or found.group(4)
        got = module_locals.get(name, found.group(0))
        return str(got.get(key, found.group(0)) if key and isinstance(got, dict) else got)

    for _ in range(depth):
        expanded = re.sub(r"\$\{local\.(\w+)(?:\.(\w+))?\}|\blocal\.(\w+)(?:\.(\w+))?\b", value, text)
        if expanded == text:
            break
        text = expanded
    return _unescape(text)


@functools.cache
def log_vocabulary() -> dict[str, set[str]]:
    """What the functions' code writes into log lines, read from functions/kstream with ast: every string literal
    (and literal piece of an f-string), every action value (Outcome("x"), action="x", {"action": "x"}), and every
    field name (keyword argument names and string dict keys)."""
    strings: set[str] = set()
    actions: set[str] = set()
    fields: set[str] = set()
    for path in sorted(KSTREAM_SOURCE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                strings.add(node.value)
            elif isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "Outcome" and node.args and isinstance(node.args[0], ast.Constant):
                    actions.add(str(node.args[0].value))
                for kw in node.keywords:
                    if kw.arg:
                        fields.add(kw.arg)
                    if kw.arg == "action" and isinstance(kw.value, ast.Constant):
                        actions.add(str(kw.value.value))
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        fields.add(key.value)
                        if key.value == "action" and isinstance(value, ast.Constant):
                            actions.add(str(value.value))
    return {"strings": strings, "actions": actions, "fields": fields}


def log_filter_problems(name: str, log_filter: str, vocabulary: dict[str, set[str]]) -> list[str]:
    """A log-based metric's filter names only messages, actions and fields the functions really write."""
    problems = []
    text = _unescape(log_filter)
    for operator, quoted in re.findall(r'jsonPayload\.message\s*(=~|:|=)\s*"((?:[^"\\]|\\.)*)"', text):
        if operator == "=~":
            problems.append(f"{name}: matches jsonPayload.message with a regex ({quoted!r}): quote literal text")
        elif not any(quoted in s if operator == ":" else quoted == s for s in vocabulary["strings"]):
            problems.append(f"{name}: message text {quoted!r} is written nowhere in functions/kstream")
    for values in re.findall(r'jsonPayload\.action\s*=\s*(\([^)]*\)|"[^"]*")', text):
        for action in re.findall(r'"([^"]*)"', values):
            if action not in vocabulary["actions"]:
                problems.append(f"{name}: action {action!r} is logged nowhere in functions/kstream")
    for field in set(re.findall(r"jsonPayload\.(\w+)", text)):
        if field != "message" and field not in vocabulary["fields"]:
            problems.append(f"{name}: field jsonPayload.{field} is written nowhere in functions/kstream")
    return problems


def test_log_metric_filters_name_what_the_functions_log() -> None:
    metrics = merged(OBSERVABILITY)["resource"]["google_logging_metric"]
    assert {"http_request_duration_seconds", "transcode_outcomes", "dropped_events"} <= set(metrics)
    vocabulary = log_vocabulary()
    for name, metric in metrics.items():
        assert log_filter_problems(name, metric["filter"], vocabulary) == [], name
        descriptor = one(metric["metric_descriptor"])
        declared = {label["key"] for label in descriptor.get("labels", [])}
        assert declared == set(metric.get("label_extractors", {})), f"{name}: every label needs its extractor"
        if name != "http_request_duration_seconds":  # the distribution
            assert (descriptor["metric_kind"], descriptor["value_type"]) == ("DELTA", "INT64"), name
    outcomes = _unescape(metrics["transcode_outcomes"]["filter"])
    assert '"completed" OR "failed"' in outcomes and '"swept"' in outcomes
    assert metrics["transcode_outcomes"]["label_extractors"]["outcome"] == "EXTRACT(jsonPayload.action)"
    assert ': dropped"' in _unescape(metrics["dropped_events"]["filter"])


def test_log_filter_check_catches_a_renamed_log_line() -> None:
    vocabulary = log_vocabulary()
    assert log_filter_problems("m", 'jsonPayload.message:\\": dropped\\"', vocabulary) == []
    assert log_filter_problems("m", 'jsonPayload.message:"transcode job begun"', vocabulary)
    assert log_filter_problems("m", 'jsonPayload.action=("completed" OR "finished")', vocabulary)
    assert log_filter_problems("m", 'jsonPayload.jobIdentifier:*', vocabulary)
    assert log_filter_problems("m", 'jsonPayload.message=~"^x"', vocabulary)


def metric_type_problems(where: str, text: str, module: dict[str, Any]) -> list[str]:
    """Every metric.type in ``text`` is built in or one of the module's log-based metrics (by reference)."""
    problems = []
    types = re.findall(r'metric\.type\s*=\s*"([^"]+)"', expand_locals(text, module["locals"]))
    if not types:
        problems.append(f"{where}: names no metric.type")
    defined = set(module["resource"].get("google_logging_metric", {}))
    for metric_type in types:
        user = re.fullmatch(r"logging\.googleapis\.com/user/\$\{google_logging_metric\.(\w+)\.name\}", metric_type)
        if metric_type not in BUILT_IN_METRICS and not (user and user.group(1) in defined):
            problems.append(f"{where}: metric {metric_type} is neither built in nor a log metric of this module")
    return problems


def alert_policy_problems(module: dict[str, Any]) -> list[str]:
    """The alert policies (one resource, for_each over local.alert_policies): each notifies
    var.notification_channels, with markdown documentation saying what it means and what to do, a severity, and
    a condition whose threshold is a validated attribute of var.alerts and whose metrics exist."""
    problems = []
    resources = module["resource"].get("google_monitoring_alert_policy", {})
    specs = module["locals"].get("alert_policies", {})
    if set(resources) != {"this"} or not specs:
        return [f"alert policies: expected one resource over local.alert_policies, found {sorted(resources)}"]
    policy = resources["this"]
    condition = one(one(policy.get("conditions", [{}])).get("condition_threshold", [{}]))
    wiring = {
        "for_each": (policy.get("for_each"), "${local.alert_policies}"),
        "notification_channels": (policy.get("notification_channels"), "${var.notification_channels}"),
        "severity": (policy.get("severity"), "${each.value.severity}"),
        "documentation": (one(policy.get("documentation", [{}])).get("content"), "${each.value.content}"),
        "mime_type": (one(policy.get("documentation", [{}])).get("mime_type"), "text/markdown"),
        "threshold_value": (condition.get("threshold_value"), "${each.value.threshold}"),
        "filter": (condition.get("filter"), "${each.value.filter}"),
    }
    problems += [f"alert policy resource: {key} is {got!r}, not {want!r}" for key, (got, want) in wiring.items()
                 if got != want]
    alerts = module["variable"].get("alerts", {})
    attributes = set(re.findall(r"(\w+)\s*=\s*optional\(number", str(alerts.get("type", ""))))
    validated = {a for v in alerts.get("validation", []) for a in re.findall(r"var\.alerts\.(\w+)", v["condition"])}
    channels = module["variable"].get("notification_channels", {})
    if not channels.get("validation") or channels.get("default") != []:
        problems.append("variable notification_channels: needs a validation and an empty default")
    for name, spec in specs.items():
        if len(str(spec.get("content", "")).strip()) < 200 or "First" not in str(spec.get("content", "")):
            problems.append(f"{name}: documentation does not say what it means and what to do first")
        if spec.get("severity") not in SEVERITIES:
            problems.append(f"{name}: severity {spec.get('severity')!r} is not one of {sorted(SEVERITIES)}")
        value = str(spec.get("threshold", ""))
        used = re.fullmatch(r"\$\{var\.alerts\.(\w+)\}", value)
        if not used or used.group(1) not in attributes:
            problems.append(f"{name}: threshold {value!r} is not an attribute of var.alerts")
        elif used.group(1) not in validated:
            problems.append(f"{name}: threshold var.alerts.{used.group(1)} has no validation")
        for key in ("filter", "denominator_filter"):
            if key in spec:
                problems += metric_type_problems(f"{name} {key}", str(spec[key]), module)
    return problems


def test_alert_policies_are_documented_graded_and_routed() -> None:
    module = merged(OBSERVABILITY)
    assert alert_policy_problems(module) == []
    specs = module["locals"]["alert_policies"]
    assert set(specs) == {"api_errors", "api_latency", "transcode_failures", "dead_letters", "armor_blocked"}
    assert "response_code_class" in specs["api_errors"]["filter"] and "denominator_filter" in specs["api_errors"]
    assert "${local.dead_letter_subscription}" in specs["dead_letters"]["filter"]
    # The stack gives the module its channels and thresholds (which the module validates).
    stack = merged(STACK)
    call = stack["module"]["observability"]
    assert (call["notification_channels"], call["alerts"]) == ("${var.notification_channels}", "${var.alerts}")
    assert call["dead_letter_subscription"] == "${module.data.dead_letter_subscription}"
    assert call["functions"] == "${module.functions.functions}"
    assert call["security_policy"] == "${module.edge.security_policy}"


def test_alert_policy_check_catches_an_unrouted_policy() -> None:
    module = merged(OBSERVABILITY)
    policy = module["resource"]["google_monitoring_alert_policy"]["this"]
    spec = module["locals"]["alert_policies"]["api_latency"]

    def with_policy(body: dict[str, Any]) -> dict[str, Any]:
        return {**module, "resource": {**module["resource"], "google_monitoring_alert_policy": {"this": body}}}

    def with_spec(body: dict[str, Any]) -> dict[str, Any]:
        return {**module, "locals": {**module["locals"], "alert_policies": {"p": body}}}

    assert alert_policy_problems(with_policy({**policy, "notification_channels": []}))
    assert alert_policy_problems(with_policy({k: v for k, v in policy.items() if k != "documentation"}))
    assert alert_policy_problems(with_spec({**spec, "severity": "PAGE"}))
    assert alert_policy_problems(with_spec({**spec, "content": "it broke"}))
    assert alert_policy_problems(with_spec({**spec, "threshold": 3}))
    assert alert_policy_problems(with_spec({**spec, "filter": 'metric.type = "x/y"'}))


def test_alert_thresholds_are_validated_variables() -> None:
    module = merged(OBSERVABILITY)
    alerts = module["variable"]["alerts"]
    assert alerts["description"] and alerts["default"] == {} and alerts["nullable"] is False
    attributes = re.findall(r"(\w+)\s*=\s*optional\(number,\s*[0-9.]+\)", alerts["type"])
    assert len(attributes) == 5, "every threshold typed, with its default"
    for attr in attributes:
        assert any(f"var.alerts.{attr}" in v["condition"] for v in alerts["validation"]), attr
        assert attr in alerts["description"], f"alerts.{attr} is not described"
    # The stack leaves every threshold unset (null: the module's default) and lists the same ones.
    stack_alerts = merged(STACK)["variable"]["alerts"]
    assert sorted(re.findall(r"(\w+)\s*=\s*optional\(number\)", stack_alerts["type"])) == sorted(attributes)


def dashboard_tiles(charts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tiles local.dashboard builds from local.charts (two 24x16 charts per row), as JSON."""
    return [{"xPos": (i % 2) * 24, "yPos": (i // 2) * 16, "width": 24, "height": 16, "widget": {
        "title": c["title"], "xyChart": {"dataSets": [{"plotType": c["plot"], "timeSeriesQuery": {"timeSeriesFilter": {
            "filter": c["filter"], "aggregation": {"alignmentPeriod": c["period"], "perSeriesAligner": c["aligner"],
                                                   "crossSeriesReducer": c["reducer"],
                                                   "groupByFields": c["group_by"]}}}}]}}}
        for i, c in enumerate(charts)]


def dashboard_problems(dashboard: dict[str, Any], module: dict[str, Any]) -> list[str]:
    problems = []
    parsed = json.loads(json.dumps(dashboard))  # what jsonencode gives: plain JSON
    if not parsed.get("displayName"):
        problems.append("dashboard: no displayName")
    layout = parsed.get("mosaicLayout", {})
    columns, tiles = layout.get("columns", 0), layout.get("tiles", [])
    if not tiles:
        problems.append("dashboard: no tiles")
    cells: set[tuple[int, int]] = set()
    for tile in tiles:
        title = tile.get("widget", {}).get("title", "?")
        if tile.get("xPos", 0) + tile.get("width", 0) > columns:
            problems.append(f"dashboard {title}: wider than the {columns} columns")
        area = {(x, y) for x in range(tile.get("xPos", 0), tile.get("xPos", 0) + tile.get("width", 0))
                for y in range(tile.get("yPos", 0), tile.get("yPos", 0) + tile.get("height", 0))}
        if area & cells:
            problems.append(f"dashboard {title}: overlaps another tile")
        cells |= area
        datasets = tile.get("widget", {}).get("xyChart", {}).get("dataSets", [])
        if not datasets:
            problems.append(f"dashboard {title}: no data")
        for dataset in datasets:
            query = dataset.get("timeSeriesQuery", {}).get("timeSeriesFilter", {})
            problems += metric_type_problems(f"dashboard {title}", str(query.get("filter", "")), module)
            if not query.get("aggregation", {}).get("perSeriesAligner"):
                problems.append(f"dashboard {title}: no aligner")
    return problems


def test_dashboard_is_built_from_hcl_and_reads_known_metrics() -> None:
    module = merged(OBSERVABILITY)
    board = module["resource"]["google_monitoring_dashboard"]["operations"]
    assert board["dashboard_json"] == "${jsonencode(local.dashboard)}", "built with jsonencode, not a pasted blob"
    dashboard = module["locals"]["dashboard"]
    tiles_expression = dashboard["mosaicLayout"]["tiles"]
    assert tiles_expression.startswith("${[for i, c in local.charts : {xPos = (i % 2) * 24, yPos = floor(i / 2) * 16")
    charts = module["locals"]["charts"]
    built = {**dashboard, "mosaicLayout": {**dashboard["mosaicLayout"], "tiles": dashboard_tiles(charts)}}
    assert dashboard_problems(built, module) == []
    titles = " | ".join(c["title"] for c in charts)
    for wanted in ("Requests/s by function", "5xx/s by function", "p50 by route", "p95 by route",
                   "Transcode outcomes", "Dead letters", "dead-lettered", "Cloud Armor"):
        assert wanted in titles, wanted
    unknown = {**dashboard, "mosaicLayout": {"columns": 48, "tiles": [
        {"xPos": 0, "yPos": 0, "width": 24, "height": 4, "widget": {"title": "x", "xyChart": {"dataSets": [
            {"timeSeriesQuery": {"timeSeriesFilter": {"filter": 'metric.type = "logging.googleapis.com/user/nope"',
                                                      "aggregation": {"perSeriesAligner": "ALIGN_SUM"}}}}]}}},
        {"xPos": 12, "yPos": 0, "width": 48, "height": 4, "widget": {"title": "y"}}]}}
    assert len(dashboard_problems(unknown, module)) >= 3
