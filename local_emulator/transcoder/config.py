"""JobConfig normalisation, defaults and validation, as the Transcoder v1 API documents them.

Everything works on the camelCase JSON form. ``normalize_job`` / ``normalize_template`` return the config with the
documented defaults filled in (the real API answers with a populated config too) or raise ``ApiError`` naming the
field at fault (``job.config.muxStreams[1].elementaryStreams[0]`` ...).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

from .errors import ApiError, invalid, unimplemented
from .presets import DEFAULT_TEMPLATE_ID, preset_config

# ---------------------------------------------------------------------------------------------------------------
# JSON helpers: camelCase keys, enums (ints or names), google.protobuf.Duration strings
# ---------------------------------------------------------------------------------------------------------------

_MAP_FIELDS = {"labels"}  # proto map fields: their keys are user data, never renamed


def camelize(value: Any) -> Any:
    """Accept snake_case field names too (the real API does); map fields keep their keys."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key) if isinstance(key, str) else key
            out[name] = item if name in _MAP_FIELDS else camelize(item)
        return out
    if isinstance(value, list):
        return [camelize(v) for v in value]
    return value


ENUMS: dict[str, list[str]] = {
    "state": ["PROCESSING_STATE_UNSPECIFIED", "PENDING", "RUNNING", "SUCCEEDED", "FAILED"],
    "mode": ["PROCESSING_MODE_UNSPECIFIED", "PROCESSING_MODE_INTERACTIVE", "PROCESSING_MODE_BATCH"],
    "optimization": ["OPTIMIZATION_STRATEGY_UNSPECIFIED", "AUTODETECT", "DISABLED"],
    "manifestType": ["MANIFEST_TYPE_UNSPECIFIED", "HLS", "DASH"],
    "segmentReferenceScheme": ["SEGMENT_REFERENCE_SCHEME_UNSPECIFIED", "SEGMENT_LIST", "SEGMENT_TEMPLATE_NUMBER"],
    "frameRateConversionStrategy": ["FRAME_RATE_CONVERSION_STRATEGY_UNSPECIFIED", "DOWNSAMPLE", "DROP_DUPLICATE"],
}


def enum_name(kind: str, value: Any, field: str) -> str:
    names = ENUMS[kind]
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}': {value!r} is not a valid enum value")
    if isinstance(value, int):
        if 0 <= value < len(names):
            return names[value]
    elif isinstance(value, str):
        if value in names:
            return value
        if value.isdigit() and int(value) < len(names):
            return names[int(value)]
    raise invalid(f"Invalid value at '{field}' ({kind}): {value!r}; expected one of {', '.join(names[1:])}")


def enum_number(kind: str, name: str) -> int:
    return ENUMS[kind].index(name)


_DURATION_RE = re.compile(r"^(-?\d+(?:\.\d{0,9})?)s$")


def parse_duration(value: Any, field: str) -> float:
    """google.protobuf.Duration in its JSON form ("6s", "3.5s"); plain numbers and {seconds, nanos} accepted too."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}': expected a duration such as \"6s\"")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, dict):
        seconds = float(value.get("seconds", 0) or 0) + float(value.get("nanos", 0) or 0) / 1e9
    elif isinstance(value, str) and _DURATION_RE.match(value.strip()):
        seconds = float(value.strip()[:-1])
    else:
        raise invalid(f"Invalid value at '{field}': {value!r} is not a duration such as \"6s\"")
    if not math.isfinite(seconds):
        raise invalid(f"Invalid value at '{field}': duration must be finite")
    return seconds


def format_duration(seconds: float) -> str:
    """The proto JSON spelling: "6s", "3.500s"."""
    if abs(seconds - round(seconds)) < 1e-9:
        return f"{round(seconds)}s"
    text = f"{seconds:.9f}".rstrip("0")
    decimals = len(text.split(".")[1])
    return f"{seconds:.{3 if decimals <= 3 else 6 if decimals <= 6 else 9}f}s"


def is_multiple(total: float, step: float) -> bool:
    """Exact-enough divisibility of two durations (both parsed from decimal strings)."""
    if step <= 0:
        return False
    ratio = Fraction(str(round(total, 9))) / Fraction(str(round(step, 9)))
    return ratio.denominator == 1


# ---------------------------------------------------------------------------------------------------------------
# Constants from the JobConfig reference
# ---------------------------------------------------------------------------------------------------------------

_GCS_OBJECT_RE = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(.+)$")
_GCS_DIR_RE = re.compile(r"^gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])/(.*)$")
_TOPIC_RE = re.compile(r"^projects/[^/]+/topics/[^/]+$")
_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
TEMPLATE_ID_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{3,62}$")

CONTAINER_EXTENSIONS = {"ts": ".ts", "fmp4": ".m4s", "mp4": ".mp4", "mp3": ".mp3", "ogg": ".ogg", "vtt": ".vtt"}
IMPLEMENTED_CONTAINERS = {"ts", "fmp4", "mp4"}
SEGMENTED_CONTAINERS = {"ts", "fmp4"}
H264_PROFILES = {"baseline", "main", "high"}
KNOWN_H264_PROFILES = H264_PROFILES | {"high10", "high422", "high444"}
X264_PRESETS = {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo"}
X264_TUNES = {"film", "animation", "grain", "stillimage", "fastdecode", "zerolatency", "psnr", "ssim"}
AUDIO_CODECS = {"aac", "aac-he", "aac-he-v2", "mp3", "ac3", "eac3"}
IMPLEMENTED_AUDIO_CODECS = {"aac", "aac-he", "aac-he-v2", "ac3", "eac3"}
DEFAULT_SEGMENT_DURATION = "6s"
DEFAULT_GOP_DURATION = "3s"


def container_extension(container: str) -> str:
    return CONTAINER_EXTENSIONS[container]


# ---------------------------------------------------------------------------------------------------------------
# Normalisation entry points
# ---------------------------------------------------------------------------------------------------------------


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
    _reject_unimplemented(config, path)
    out: dict[str, Any] = {}

    inputs = _inputs(config.get("inputs") or [], path, require_io)
    out["inputs"] = inputs
    out["editList"] = _edit_list(config.get("editList") or [], inputs, path)

    streams = _elementary_streams(config.get("elementaryStreams"), path)
    out["elementaryStreams"] = streams
    by_key = {s["key"]: s for s in streams}

    muxes = _mux_streams(config.get("muxStreams"), by_key, path)
    out["muxStreams"] = muxes
    mux_by_key = {m["key"]: m for m in muxes}

    out["manifests"] = _manifests(config.get("manifests") or [], mux_by_key, by_key, path)
    sprites = _sprite_sheets(config.get("spriteSheets") or [], path)
    if sprites:
        out["spriteSheets"] = sprites

    output = config.get("output") or {}
    uri = output.get("uri", "") if isinstance(output, dict) else ""
    if uri:
        if not _GCS_DIR_RE.match(uri):
            raise invalid(f"{path}.output.uri: '{uri}' is not a Cloud Storage URI of the form gs://bucket/folder/")
        if not uri.endswith("/"):
            raise invalid(f"{path}.output.uri: '{uri}' must be a folder and end with '/'")
        if not _GCS_DIR_RE.match(uri).group(2):
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
        if not _TOPIC_RE.match(topic):
            raise invalid(f"{path}.pubsubDestination.topic: '{topic}' must be of the form "
                          "projects/PROJECT/topics/TOPIC")
        out["pubsubDestination"] = {"topic": topic}

    _check_output_names(out, path)
    return out


def _reject_unimplemented(config: dict, path: str) -> None:
    for field in ("overlays", "encryptions"):
        if config.get(field):
            raise unimplemented(f"{path}.{field}")
    for i, item in enumerate(config.get("inputs") or []):
        if isinstance(item, dict) and item.get("preprocessingConfig"):
            raise unimplemented(f"{path}.inputs[{i}].preprocessingConfig")


def _inputs(inputs: list, path: str, require_io: bool) -> list[dict]:
    if not isinstance(inputs, list):
        raise invalid(f"{path}.inputs must be a list")
    if not inputs:
        if require_io:
            raise invalid(f"{path}.inputs[0].uri is required: set job.input_uri or {path}.inputs")
        return [{"key": "input0"}]
    seen: set[str] = set()
    out = []
    for i, item in enumerate(inputs):
        if not isinstance(item, dict):
            raise invalid(f"{path}.inputs[{i}] must be an Input object")
        key = item.get("key") or ("input0" if len(inputs) == 1 else "")
        if not key:
            raise invalid(f"{path}.inputs[{i}].key is required")
        if key in seen:
            raise invalid(f"{path}.inputs[{i}].key: duplicate input key '{key}'")
        seen.add(key)
        uri = item.get("uri") or ""
        if uri and not _GCS_OBJECT_RE.match(uri):
            raise invalid(f"{path}.inputs[{i}].uri: '{uri}' is not a Cloud Storage object URI of the form "
                          "gs://bucket/object (job.input_uri)")
        if not uri and require_io:
            raise invalid(f"{path}.inputs[{i}].uri is required: set job.input_uri or {path}.inputs[{i}].uri")
        entry = {"key": key}
        if uri:
            entry["uri"] = uri
        out.append(entry)
    if len(out) > 1:
        raise unimplemented(f"{path}.inputs: more than one input")
    return out


def _edit_list(atoms: list, inputs: list[dict], path: str) -> list[dict]:
    keys = {i["key"] for i in inputs}
    if not atoms:
        return [{"key": "atom0", "inputs": [inputs[0]["key"]], "startTimeOffset": "0s"}]
    if len(atoms) > 1:
        raise unimplemented(f"{path}.editList: more than one edit atom")
    out = []
    for i, atom in enumerate(atoms):
        field = f"{path}.editList[{i}]"
        if not isinstance(atom, dict):
            raise invalid(f"{field} must be an EditAtom object")
        names = atom.get("inputs") or []
        if not names:
            raise invalid(f"{field}.inputs must name at least one input key")
        for j, name in enumerate(names):
            if name not in keys:
                raise invalid(f"{field}.inputs[{j}]: unknown input key '{name}'")
        start = parse_duration(atom.get("startTimeOffset", "0s"), f"{field}.startTimeOffset")
        if start < 0:
            raise invalid(f"{field}.startTimeOffset must not be negative")
        entry = {"key": atom.get("key") or f"atom{i}", "inputs": list(names), "startTimeOffset": format_duration(start)}
        if atom.get("endTimeOffset") is not None:
            end = parse_duration(atom["endTimeOffset"], f"{field}.endTimeOffset")
            if end <= start:
                raise invalid(f"{field}.endTimeOffset must be greater than startTimeOffset")
            entry["endTimeOffset"] = format_duration(end)
        out.append(entry)
    return out


def _positive_int(value: Any, field: str, *, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise invalid(f"Invalid value at '{field}': expected an integer")
    try:
        number = int(value)
    except ValueError:
        raise invalid(f"Invalid value at '{field}': expected an integer") from None
    if number != float(value):
        raise invalid(f"Invalid value at '{field}': expected an integer")
    if (low is not None and number < low) or (high is not None and number > high):
        raise invalid(f"{field} must be between {low} and {high}, got {number}")
    return number


def _keyed_entries(items: Any, path: str, list_name: str, kind: str, object_name: str,
                   key_pattern: re.Pattern[str] | None = None) -> Iterator[tuple[str, dict, str]]:
    """(field, entry, key) of each entry of a non-empty list of objects with unique, required keys."""
    if not items:
        raise invalid(f"{path}.{list_name} must contain at least one {kind}")
    if not isinstance(items, list):
        raise invalid(f"{path}.{list_name} must be a list")
    seen: set[str] = set()
    for i, entry in enumerate(items):
        field = f"{path}.{list_name}[{i}]"
        if not isinstance(entry, dict):
            raise invalid(f"{field} must be a{'n' if object_name[0] in 'AEIOU' else ''} {object_name} object")
        key = entry.get("key") or ""
        if not key:
            raise invalid(f"{field}.key is required")
        if key_pattern is not None and not key_pattern.match(key):
            raise invalid(f"{field}.key '{key}' may only contain letters, digits, '.', '_' and '-'")
        if key in seen:
            raise invalid(f"{field}.key: duplicate {kind} key '{key}'")
        seen.add(key)
        yield field, entry, key


def _elementary_streams(streams: Any, path: str) -> list[dict]:
    out = []
    for field, stream, key in _keyed_entries(streams, path, "elementaryStreams", "elementary stream",
                                             "ElementaryStream"):
        kinds = [k for k in ("videoStream", "audioStream", "textStream") if stream.get(k)]
        if len(kinds) != 1:
            raise invalid(f"{field}: exactly one of videoStream, audioStream or textStream must be set")
        if kinds[0] == "textStream":
            raise unimplemented(f"{field}.textStream")
        if kinds[0] == "videoStream":
            out.append({"key": key, "videoStream": _video(stream["videoStream"], f"{field}.videoStream")})
        else:
            out.append({"key": key, "audioStream": _audio(stream["audioStream"], f"{field}.audioStream")})
    return out


def _video(video: dict, field: str) -> dict:
    codecs = [c for c in ("h264", "h265", "vp9") if video.get(c) is not None]
    if len(codecs) != 1:
        raise invalid(f"{field}: exactly one of h264, h265 or vp9 codec settings must be set")
    if codecs[0] != "h264":
        raise unimplemented(f"{field}.{codecs[0]}")
    h = dict(video["h264"])
    field = f"{field}.h264"
    for dim in ("widthPixels", "heightPixels"):
        if h.get(dim):
            value = _positive_int(h[dim], f"{field}.{dim}", low=2, high=8192)
            if value % 2:
                raise invalid(f"{field}.{dim} must be an even integer, got {value}")
            h[dim] = value
        else:
            h.pop(dim, None)
    if not h.get("frameRate"):
        raise invalid(f"{field}.frameRate is required")
    try:
        frame_rate = float(h["frameRate"])
    except (TypeError, ValueError):
        raise invalid(f"Invalid value at '{field}.frameRate': expected a number") from None
    if not 0 < frame_rate <= 120:
        raise invalid(f"{field}.frameRate must be greater than 0 and less than or equal to 120, got {frame_rate:g}")
    h["frameRate"] = int(frame_rate) if frame_rate.is_integer() else frame_rate
    if not h.get("bitrateBps"):
        raise invalid(f"{field}.bitrateBps is required")
    h["bitrateBps"] = _positive_int(h["bitrateBps"], f"{field}.bitrateBps", low=1000, high=800_000_000)
    h.setdefault("pixelFormat", "yuv420p")
    if h["pixelFormat"] != "yuv420p":
        raise unimplemented(f"{field}.pixelFormat '{h['pixelFormat']}'")
    h.setdefault("rateControlMode", "vbr")
    if h["rateControlMode"] not in ("vbr", "crf"):
        raise invalid(f"{field}.rateControlMode must be 'vbr' or 'crf', got '{h['rateControlMode']}'")
    h["crfLevel"] = _positive_int(h.get("crfLevel", 21) or 21, f"{field}.crfLevel", low=10, high=36)
    if h.get("gopDuration") is not None and h.get("gopFrameCount"):
        raise invalid(f"{field}: only one of gopDuration and gopFrameCount may be set")
    if h.get("gopFrameCount"):
        h["gopFrameCount"] = _positive_int(h["gopFrameCount"], f"{field}.gopFrameCount", low=1, high=100000)
    else:
        gop = parse_duration(h.get("gopDuration", DEFAULT_GOP_DURATION), f"{field}.gopDuration")
        if gop <= 0:
            raise invalid(f"{field}.gopDuration must be greater than 0")
        h["gopDuration"] = format_duration(gop)
    h["vbvSizeBits"] = _positive_int(h.get("vbvSizeBits") or h["bitrateBps"], f"{field}.vbvSizeBits", low=1)
    h["vbvFullnessBits"] = _positive_int(h.get("vbvFullnessBits") or h["vbvSizeBits"] * 9 // 10,
                                         f"{field}.vbvFullnessBits", low=1)
    if h["vbvFullnessBits"] > h["vbvSizeBits"]:
        raise invalid(f"{field}.vbvFullnessBits must be less than or equal to vbvSizeBits")
    h.setdefault("entropyCoder", "cabac")
    if h["entropyCoder"] not in ("cabac", "cavlc"):
        raise invalid(f"{field}.entropyCoder must be 'cabac' or 'cavlc', got '{h['entropyCoder']}'")
    h.setdefault("profile", "high")
    if h["profile"] not in KNOWN_H264_PROFILES:
        raise invalid(f"{field}.profile: unknown H.264 profile '{h['profile']}'")
    if h["profile"] not in H264_PROFILES:
        raise unimplemented(f"{field}.profile '{h['profile']}'")
    if h["profile"] == "baseline" and h["entropyCoder"] == "cabac" and "entropyCoder" not in video["h264"]:
        h["entropyCoder"] = "cavlc"
    h.setdefault("preset", "veryfast")
    if h["preset"] not in X264_PRESETS:
        raise invalid(f"{field}.preset: unknown H.264 preset '{h['preset']}'")
    if h.get("tune") and h["tune"] not in X264_TUNES:
        raise invalid(f"{field}.tune: unknown H.264 tune '{h['tune']}'")
    if h.get("bFrameCount") is not None:
        h["bFrameCount"] = _positive_int(h["bFrameCount"], f"{field}.bFrameCount", low=0, high=16)
        if h.get("gopFrameCount") and h["bFrameCount"] >= h["gopFrameCount"]:
            raise invalid(f"{field}.bFrameCount must be less than gopFrameCount")
    if h.get("aqStrength") is not None:
        aq = float(h["aqStrength"])
        if not 0 <= aq <= 1:
            raise invalid(f"{field}.aqStrength must be between 0 and 1")
        h["aqStrength"] = int(aq) if aq.is_integer() else aq
    if h.get("frameRateConversionStrategy") is not None:
        h["frameRateConversionStrategy"] = enum_name("frameRateConversionStrategy", h["frameRateConversionStrategy"],
                                                     f"{field}.frameRateConversionStrategy")
    if h.get("hlg"):
        raise unimplemented(f"{field}.hlg")
    return {"h264": h}


def _audio(audio: dict, field: str) -> dict:
    a = dict(audio)
    a.setdefault("codec", "aac")
    if a["codec"] not in AUDIO_CODECS:
        raise invalid(f"{field}.codec: unknown audio codec '{a['codec']}'")
    if a["codec"] not in IMPLEMENTED_AUDIO_CODECS:
        raise unimplemented(f"{field}.codec '{a['codec']}'")
    if not a.get("bitrateBps"):
        raise invalid(f"{field}.bitrateBps is required")
    a["bitrateBps"] = _positive_int(a["bitrateBps"], f"{field}.bitrateBps", low=1, high=10_000_000)
    a["channelCount"] = _positive_int(a.get("channelCount") or 2, f"{field}.channelCount", low=1, high=6)
    layout = a.get("channelLayout") or (["fl", "fr"] if a["channelCount"] == 2 else [])
    if layout and len(layout) != a["channelCount"]:
        raise invalid(f"{field}.channelLayout must have channelCount ({a['channelCount']}) entries")
    if layout:
        a["channelLayout"] = list(layout)
    a["sampleRateHertz"] = _positive_int(a.get("sampleRateHertz") or 48000, f"{field}.sampleRateHertz",
                                         low=8000, high=96000)
    if a.get("mapping"):
        raise unimplemented(f"{field}.mapping")
    return a


def _mux_streams(muxes: Any, streams: dict[str, dict], path: str) -> list[dict]:
    out = []
    for field, mux, key in _keyed_entries(muxes, path, "muxStreams", "mux stream", "MuxStream", _FILE_NAME_RE):
        container = mux.get("container") or "mp4"
        if container not in CONTAINER_EXTENSIONS:
            raise invalid(f"{field}.container: unknown container '{container}'; supported containers are "
                          + ", ".join(sorted(CONTAINER_EXTENSIONS)))
        if container not in IMPLEMENTED_CONTAINERS:
            raise unimplemented(f"{field}.container '{container}'")
        names = mux.get("elementaryStreams") or []
        if not names:
            raise invalid(f"{field}.elementaryStreams must name at least one elementary stream")
        kinds = []
        for j, name in enumerate(names):
            if name not in streams:
                raise invalid(f"{field}.elementaryStreams[{j}]: unknown elementary stream key '{name}'")
            kinds.append("video" if "videoStream" in streams[name] else "audio")
        if kinds.count("video") > 1 or kinds.count("audio") > 1:
            raise invalid(f"{field}.elementaryStreams: a mux stream holds at most one video and one audio stream")
        file_name = mux.get("fileName") or key + container_extension(container)
        if not _FILE_NAME_RE.match(file_name):
            raise invalid(f"{field}.fileName '{file_name}' may only contain letters, digits, '.', '_' and '-'")
        entry: dict[str, Any] = {"key": key, "fileName": file_name, "container": container,
                                 "elementaryStreams": list(names)}
        if container in SEGMENTED_CONTAINERS:
            settings = mux.get("segmentSettings") or {}
            seg = parse_duration(settings.get("segmentDuration", DEFAULT_SEGMENT_DURATION),
                                 f"{field}.segmentSettings.segmentDuration")
            if seg <= 0:
                raise invalid(f"{field}.segmentSettings.segmentDuration must be greater than 0")
            for name in names:
                video = streams[name].get("videoStream")
                if not video:
                    continue
                gop = gop_seconds(video["h264"])
                if seg + 1e-9 < gop:
                    raise invalid(f"{field}.segmentSettings.segmentDuration ({format_duration(seg)}) must be greater "
                                  f"than or equal to the gopDuration ({format_duration(gop)}) of elementary stream "
                                  f"'{name}'")
                if not is_multiple(seg, gop):
                    raise invalid(f"{field}.segmentSettings.segmentDuration ({format_duration(seg)}) must be "
                                  f"divisible by the gopDuration ({format_duration(gop)}) of elementary stream "
                                  f"'{name}'")
            entry["segmentSettings"] = {"segmentDuration": format_duration(seg),
                                        "individualSegments": bool(settings.get("individualSegments", False))}
        if mux.get("encryptionId"):
            raise unimplemented(f"{field}.encryptionId")
        out.append(entry)
    return out


def gop_seconds(h264: dict) -> float:
    if h264.get("gopFrameCount"):
        return h264["gopFrameCount"] / float(h264["frameRate"])
    return parse_duration(h264.get("gopDuration", DEFAULT_GOP_DURATION), "gopDuration")


def _manifests(manifests: list, muxes: dict[str, dict], streams: dict[str, dict], path: str) -> list[dict]:
    out = []
    for i, manifest in enumerate(manifests):
        field = f"{path}.manifests[{i}]"
        if not isinstance(manifest, dict):
            raise invalid(f"{field} must be a Manifest object")
        if manifest.get("type") in (None, 0, "MANIFEST_TYPE_UNSPECIFIED"):
            raise invalid(f"{field}.type is required (HLS or DASH)")
        kind = enum_name("manifestType", manifest["type"], f"{field}.type")
        names = manifest.get("muxStreams") or []
        if not names:
            raise invalid(f"{field}.muxStreams must name at least one mux stream")
        for j, name in enumerate(names):
            if name not in muxes:
                raise invalid(f"{field}.muxStreams[{j}]: unknown mux stream key '{name}'")
            mux = muxes[name]
            if kind == "HLS" and mux["container"] not in ("ts", "fmp4"):
                raise invalid(f"{field}.muxStreams[{j}]: mux stream '{name}' has container '{mux['container']}'; "
                              "an HLS manifest needs 'ts' or 'fmp4' mux streams")
            if kind == "DASH":
                if mux["container"] != "fmp4":
                    raise invalid(f"{field}.muxStreams[{j}]: mux stream '{name}' has container "
                                  f"'{mux['container']}'; a DASH manifest needs 'fmp4' mux streams")
                if len(mux["elementaryStreams"]) != 1:
                    raise invalid(f"{field}.muxStreams[{j}]: mux stream '{name}' must hold exactly one elementary "
                                  "stream to appear in a DASH manifest")
        default_name = "manifest.m3u8" if kind == "HLS" else "manifest.mpd"
        file_name = manifest.get("fileName") or default_name
        if not _FILE_NAME_RE.match(file_name):
            raise invalid(f"{field}.fileName '{file_name}' may only contain letters, digits, '.', '_' and '-'")
        entry: dict[str, Any] = {"fileName": file_name, "type": kind, "muxStreams": list(names)}
        if kind == "DASH":
            dash = manifest.get("dash") or {}
            scheme = dash.get("segmentReferenceScheme")
            scheme = "SEGMENT_LIST" if scheme in (None, 0, "SEGMENT_REFERENCE_SCHEME_UNSPECIFIED") else enum_name(
                "segmentReferenceScheme", scheme, f"{field}.dash.segmentReferenceScheme")
            entry["dash"] = {"segmentReferenceScheme": scheme}
        out.append(entry)
    return out


def _sprite_sheets(sprites: list, path: str) -> list[dict]:
    out = []
    prefixes: set[str] = set()
    for i, sprite in enumerate(sprites):
        field = f"{path}.spriteSheets[{i}]"
        if not isinstance(sprite, dict):
            raise invalid(f"{field} must be a SpriteSheet object")
        s = dict(sprite)
        prefix = s.get("filePrefix") or ""
        if not prefix:
            raise invalid(f"{field}.filePrefix is required")
        if not _FILE_NAME_RE.match(prefix):
            raise invalid(f"{field}.filePrefix '{prefix}' may only contain letters, digits, '.', '_' and '-'")
        if prefix in prefixes:
            raise invalid(f"{field}.filePrefix: duplicate sprite sheet prefix '{prefix}'")
        prefixes.add(prefix)
        s.setdefault("format", "jpeg")
        if s["format"] != "jpeg":
            raise invalid(f"{field}.format: unsupported sprite sheet format '{s['format']}'; supported: jpeg")
        if not s.get("spriteWidthPixels") and not s.get("spriteHeightPixels"):
            raise invalid(f"{field}.spriteWidthPixels or {field}.spriteHeightPixels is required")
        for dim in ("spriteWidthPixels", "spriteHeightPixels"):
            if s.get(dim):
                s[dim] = _positive_int(s[dim], f"{field}.{dim}", low=2, high=8192)
                if s[dim] % 2:
                    raise invalid(f"{field}.{dim} must be an even integer, got {s[dim]}")
            else:
                s.pop(dim, None)
        for count in ("columnCount", "rowCount"):
            s[count] = _positive_int(s.get(count) or 0, f"{field}.{count}", low=0, high=10000)
            if not s[count]:
                s.pop(count)
        if s.get("interval") is not None and s.get("totalCount"):
            raise invalid(f"{field}: only one of totalCount and interval may be set")
        if s.get("interval") is not None:
            interval = parse_duration(s["interval"], f"{field}.interval")
            if interval <= 0:
                raise invalid(f"{field}.interval must be greater than 0")
            s["interval"] = format_duration(interval)
        else:
            s["totalCount"] = _positive_int(s.get("totalCount") or 100, f"{field}.totalCount", low=1, high=100000)
        s["quality"] = _positive_int(s.get("quality") or 100, f"{field}.quality", low=1, high=100)
        start = parse_duration(s.get("startTimeOffset", "0s"), f"{field}.startTimeOffset")
        if start < 0:
            raise invalid(f"{field}.startTimeOffset must not be negative")
        s["startTimeOffset"] = format_duration(start)
        if s.get("endTimeOffset") is not None:
            end = parse_duration(s["endTimeOffset"], f"{field}.endTimeOffset")
            if end <= start:
                raise invalid(f"{field}.endTimeOffset must be greater than startTimeOffset")
            s["endTimeOffset"] = format_duration(end)
        out.append(s)
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


def is_valid_gcs_object(uri: str) -> tuple[str, str] | None:
    match = _GCS_OBJECT_RE.match(uri or "")
    return (match.group(1), match.group(2)) if match else None


def split_gcs_dir(uri: str) -> tuple[str, str]:
    match = _GCS_DIR_RE.match(uri)
    if not match:
        raise ApiError("INVALID_ARGUMENT", f"'{uri}' is not a Cloud Storage URI")
    return match.group(1), match.group(2)
