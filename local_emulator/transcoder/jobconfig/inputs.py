"""JobConfig.inputs[] and JobConfig.editList[]: which files the job reads and the output timeline built from them.

Any number of inputs: media files (any container ffmpeg reads that the API lists) and sideloaded caption files
(.srt, .vtt, .scc) that an edit atom names beside its media input. Edit atoms: each one a span
[startTimeOffset, endTimeOffset) of its inputs' timeline (default: 0s to the end of the input); the output timeline
is the atoms one after the other (concatenation, timestamps continuous from 0s; ffmpeg_plan.py). Atoms may name
different inputs or the same input twice.
"""

from __future__ import annotations

from ..errors import invalid
from .common import GCS_OBJECT_RE, format_duration, parse_duration
from .preprocessing import preprocessing_config


def inputs(inputs: list, path: str, require_io: bool) -> list[dict]:
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
        if uri and not GCS_OBJECT_RE.match(uri):
            raise invalid(f"{path}.inputs[{i}].uri: '{uri}' is not a Cloud Storage object URI of the form "
                          "gs://bucket/object (job.input_uri)")
        if not uri and require_io:
            raise invalid(f"{path}.inputs[{i}].uri is required: set job.input_uri or {path}.inputs[{i}].uri")
        entry = {"key": key}
        if uri:
            entry["uri"] = uri
        if item.get("preprocessingConfig") is not None:
            entry["preprocessingConfig"] = preprocessing_config(item["preprocessingConfig"],
                                                                f"{path}.inputs[{i}].preprocessingConfig")
        out.append(entry)
    return out


def edit_list(atoms: list, inputs: list[dict], path: str) -> list[dict]:
    keys = {i["key"] for i in inputs}
    if not atoms:
        return [{"key": "atom0", "inputs": [inputs[0]["key"]], "startTimeOffset": "0s"}]
    if not isinstance(atoms, list):
        raise invalid(f"{path}.editList must be a list")
    out = []
    seen: set[str] = set()
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
        key = atom.get("key") or f"atom{i}"
        if key in seen:
            raise invalid(f"{field}.key: duplicate edit atom key '{key}'")
        seen.add(key)
        entry = {"key": key, "inputs": list(names), "startTimeOffset": format_duration(start)}
        if atom.get("endTimeOffset") is not None:
            end = parse_duration(atom["endTimeOffset"], f"{field}.endTimeOffset")
            if end <= start:
                raise invalid(f"{field}.endTimeOffset must be greater than startTimeOffset")
            entry["endTimeOffset"] = format_duration(end)
        out.append(entry)
    return out
