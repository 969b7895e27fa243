"""Job and JobTemplate bodies: the template or preset a job names, Job.inputUri/outputUri, and the JobConfig as a whole
(output, adBreaks, pubsubDestination, output file names), each section delegated to its module."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import invalid
from ..presets import DEFAULT_TEMPLATE_ID, preset_config
from .common import GCS_DIR_RE, TEMPLATE_ID_RE, TOPIC_RE, camelize, enum_name, format_duration, parse_duration
from .elementary import elementary_streams
from .encryption import encryptions as read_encryptions
from .inputs import edit_list
from .inputs import inputs as read_inputs
from .manifests import manifests as read_manifests
from .mux import mux_streams
from .overlays import overlays as read_overlays
from .sprites import sprite_sheets


def normalize_job(job: dict, templates: dict[str, dict], parent: str) -> dict:
    """Validate a Job body from jobs.create; return a Job dict with its config resolved and defaults filled.

    ``templates`` maps a full template name (``projects/P/locations/L/jobTemplates/ID``) to its JobTemplate dict.
    """
    if not isinstance(job, dict):
        raise invalid("Invalid JSON payload: the request body must be a Job object")
    job = camelize(job)
    config = job.get("config")
    template_id = job.get("templateId") or ""
    if config and template_id:
        raise invalid("job.template_id and job.config are mutually exclusive: specify only one of them")
    if not config:
        template_id = template_id or DEFAULT_TEMPLATE_ID
        config = preset_config(template_id)
        if config is None:
            template = templates.get(f"{parent}/jobTemplates/{template_id}")
            if template is None:
                raise invalid(f"job.template_id: job template '{template_id}' was not found in {parent}")
            config = copy.deepcopy(template.get("config") or {})
    if not isinstance(config, dict):
        raise invalid("job.config must be a JobConfig object")
    config = _fill_io(config, job.get("inputUri") or "", job.get("outputUri") or "")
    config = normalize_config(config, "job.config", require_io=True)

    out: dict[str, Any] = {"config": config}
    if job.get("labels"):
        if not isinstance(job["labels"], dict):
            raise invalid("job.labels must be a map of string to string")
        out["labels"] = {str(k): str(v) for k, v in job["labels"].items()}
    ttl = job.get("ttlAfterCompletionDays", 30) or 30
    if not isinstance(ttl, int) or ttl < 0:
        raise invalid("job.ttl_after_completion_days must be a non-negative integer")
    out["ttlAfterCompletionDays"] = ttl
    if job.get("mode") not in (None, 0, "PROCESSING_MODE_UNSPECIFIED"):
        out["mode"] = enum_name("mode", job["mode"], "job.mode")
    if job.get("batchModePriority"):
        if out.get("mode") != "PROCESSING_MODE_BATCH":
            raise invalid("job.batch_mode_priority can only be set when job.mode is PROCESSING_MODE_BATCH")
        out["batchModePriority"] = int(job["batchModePriority"])
    if job.get("optimization") not in (None, 0, "OPTIMIZATION_STRATEGY_UNSPECIFIED"):
        out["optimization"] = enum_name("optimization", job["optimization"], "job.optimization")
    if job.get("fillContentGaps"):
        out["fillContentGaps"] = True
    return out


def normalize_template(template: dict, template_id: str) -> dict:
    """Validate a JobTemplate body from jobTemplates.create (input and output URIs optional)."""
    if not TEMPLATE_ID_RE.match(template_id or ""):
        raise invalid("job_template_id must be 4-63 characters matching [a-zA-Z][a-zA-Z0-9_-]*")
    if not isinstance(template, dict):
        raise invalid("Invalid JSON payload: the request body must be a JobTemplate object")
    template = camelize(template)
    config = template.get("config") or {}
    if not isinstance(config, dict):
        raise invalid("job_template.config must be a JobConfig object")
    out: dict[str, Any] = {"config": normalize_config(config, "job_template.config", require_io=False)}
    if template.get("labels"):
        out["labels"] = {str(k): str(v) for k, v in template["labels"].items()}
    return out


def _fill_io(config: dict, input_uri: str, output_uri: str) -> dict:
    """Job.inputUri / Job.outputUri populate the empty URIs of the config (Job reference)."""
    config = copy.deepcopy(camelize(config))
    inputs = config.get("inputs")
    if not inputs:
        config["inputs"] = [{"key": "input0", "uri": input_uri}] if input_uri else []
    elif input_uri:
        for item in inputs:
            if isinstance(item, dict) and not item.get("uri"):
                item["uri"] = input_uri
    output = config.get("output") or {}
    if not isinstance(output, dict):
        raise invalid("job.config.output must be an Output object")
    if not output.get("uri") and output_uri:
        output["uri"] = output_uri
    config["output"] = output
    return config


def normalize_config(config: dict, path: str, *, require_io: bool) -> dict:
    config = camelize(config)
    out: dict[str, Any] = {}

    inputs = read_inputs(config.get("inputs") or [], path, require_io)
    out["inputs"] = inputs
    out["editList"] = edit_list(config.get("editList") or [], inputs, path)

    streams = elementary_streams(config.get("elementaryStreams"), path, inputs, out["editList"])
    out["elementaryStreams"] = streams
    by_key = {s["key"]: s for s in streams}

    muxes = mux_streams(config.get("muxStreams"), by_key, path)
    out["muxStreams"] = muxes
    mux_by_key = {m["key"]: m for m in muxes}

    out["manifests"] = read_manifests(config.get("manifests") or [], mux_by_key, by_key, path)
    protections = read_encryptions(config.get("encryptions"), muxes, out["manifests"], path, by_key)
    if protections:
        out["encryptions"] = protections
    sprites = sprite_sheets(config.get("spriteSheets") or [], path)
    if sprites:
        out["spriteSheets"] = sprites
    drawn = read_overlays(config.get("overlays"), path)
    if drawn:
        out["overlays"] = drawn

    output = config.get("output") or {}
    uri = output.get("uri", "") if isinstance(output, dict) else ""
    if uri:
        if not GCS_DIR_RE.match(uri):
            raise invalid(f"{path}.output.uri: '{uri}' is not a Cloud Storage URI of the form gs://bucket/folder/")
        if not uri.endswith("/"):
            raise invalid(f"{path}.output.uri: '{uri}' must be a folder and end with '/'")
        if not GCS_DIR_RE.match(uri).group(2):
            raise invalid(f"{path}.output.uri: '{uri}' must be a folder, not a top-level bucket")
    elif require_io:
        raise invalid(f"{path}.output.uri is required: set job.output_uri or {path}.output.uri")
    out["output"] = {"uri": uri} if uri else {}

    ad_breaks = config.get("adBreaks") or []
    if ad_breaks:
        norm = []
        for i, item in enumerate(ad_breaks):
            offset = parse_duration((item or {}).get("startTimeOffset", "0s"), f"{path}.adBreaks[{i}].startTimeOffset")
            norm.append({"startTimeOffset": format_duration(offset)})
        out["adBreaks"] = norm

    pubsub = config.get("pubsubDestination") or {}
    topic = pubsub.get("topic", "") if isinstance(pubsub, dict) else ""
    if topic:
        if not TOPIC_RE.match(topic):
            raise invalid(f"{path}.pubsubDestination.topic: '{topic}' must be of the form "
                          "projects/PROJECT/topics/TOPIC")
        out["pubsubDestination"] = {"topic": topic}

    _check_output_names(out, path)
    return out



def _check_output_names(config: dict, path: str) -> None:
    """Two outputs must not claim the same object name."""
    owners: dict[str, str] = {}

    def claim(name: str, owner: str) -> None:
        if name in owners:
            raise invalid(f"{owner}: output file name '{name}' is already used by {owners[name]}")
        owners[name] = owner

    hls_muxes = {m for man in config["manifests"] if man["type"] == "HLS" for m in man["muxStreams"]}
    for i, mux in enumerate(config["muxStreams"]):
        claim(mux["fileName"], f"{path}.muxStreams[{i}].fileName")
        if mux["key"] in hls_muxes:
            claim(mux["key"] + ".m3u8", f"{path}.muxStreams[{i}] (its HLS media playlist)")
    for i, manifest in enumerate(config["manifests"]):
        claim(manifest["fileName"], f"{path}.manifests[{i}].fileName")

