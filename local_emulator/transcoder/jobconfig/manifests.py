"""JobConfig.manifests[]: HLS and DASH manifests over the mux streams (validation; files: ../manifests.py).

HLS takes ts, fmp4 and vtt mux streams (vtt: subtitle renditions); DASH takes single-stream fmp4 mux streams and vtt
ones (a text AdaptationSet per language; the reference does not say whether the service accepts vtt in DASH, the
emulator does).
"""

from __future__ import annotations

from typing import Any

from ..errors import invalid
from .common import FILE_NAME_RE, enum_name


def manifests(manifests: list, muxes: dict[str, dict], streams: dict[str, dict], path: str) -> list[dict]:
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
            if kind == "HLS" and mux["container"] not in ("ts", "fmp4", "vtt"):
                raise invalid(f"{field}.muxStreams[{j}]: mux stream '{name}' has container '{mux['container']}'; "
                              "an HLS manifest needs 'ts', 'fmp4' or 'vtt' mux streams")
            if kind == "DASH":
                if mux["container"] not in ("fmp4", "vtt"):
                    raise invalid(f"{field}.muxStreams[{j}]: mux stream '{name}' has container "
                                  f"'{mux['container']}'; a DASH manifest needs 'fmp4' (or 'vtt') mux streams")
                media = [n for n in mux["elementaryStreams"] if "textStream" not in streams[n]]
                if mux["container"] == "fmp4" and len(media) != 1:
                    raise invalid(f"{field}.muxStreams[{j}]: mux stream '{name}' must hold exactly one elementary "
                                  "stream to appear in a DASH manifest")
        if all(muxes[n]["container"] == "vtt" for n in names):
            raise invalid(f"{field}.muxStreams: a manifest needs at least one audio or video mux stream besides "
                          "its 'vtt' ones")
        default_name = "manifest.m3u8" if kind == "HLS" else "manifest.mpd"
        file_name = manifest.get("fileName") or default_name
        if not FILE_NAME_RE.match(file_name):
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

