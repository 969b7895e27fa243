"""JobConfig.encryptions[] and MuxStream.encryptionId: validation as the v1 reference and the "Encrypt transcoded
content" guide document them (files: ../encryption.py).

An Encryption has a required ``id``, exactly one mode (``aes128``, ``sampleAes`` or ``mpegCenc {scheme}``), its keys
in Secret Manager (``secretManagerKeySource.secretVersion`` = ``projects/P/secrets/S/versions/N``, a numbered version:
aliases such as ``latest`` are not supported) and at least one DRM system in ``drmSystems``. The guide's table of
supported configurations decides which mode goes with which container, manifest and DRM system:

| manifest | container | DRM system | mode |
| --- | --- | --- | --- |
| HLS | ts | ClearKey | aes128 |
| HLS | ts | FairPlay | sampleAes |
| HLS | fmp4 | FairPlay | mpegCenc cbcs only |
| DASH | fmp4 | Widevine, PlayReady | mpegCenc cenc or cbcs |

The emulator writes every row (../encryption.py); keys and licences stay a key server's job.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import invalid, unimplemented

MODES = ("aes128", "sampleAes", "mpegCenc")
SCHEMES = ("cenc", "cbcs")
DRM_SYSTEMS = ("widevine", "fairplay", "playready", "clearkey")
SECRET_VERSION_RE = re.compile(r"^projects/[^/]+/secrets/[A-Za-z0-9_-]{1,255}/versions/[1-9][0-9]*$")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# mode -> (containers, DRM systems the guide pairs with it)
_CONTAINERS = {"aes128": ("ts",), "sampleAes": ("ts",), "mpegCenc": ("fmp4",)}
_DRM = {"aes128": ("clearkey",), "sampleAes": ("fairplay",), "mpegCenc": ("widevine", "playready", "fairplay")}
# what the local emulator writes (a mode missing here would be validated, then refused with 501)
IMPLEMENTED = {("aes128", ""), ("sampleAes", ""), ("mpegCenc", "cenc"), ("mpegCenc", "cbcs")}


def mode_of(encryption: dict) -> tuple[str, str]:
    """(mode, scheme) of a normalised Encryption: ("aes128", ""), ("mpegCenc", "cenc") ..."""
    for mode in MODES:
        if mode in encryption:
            return mode, (encryption[mode] or {}).get("scheme", "")
    raise KeyError("encryption without a mode")


def _object(value: Any, field: str, name: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{field}': expected a{'n' if name[0] in 'AEIOU' else ''} {name} object")
    return value


def _encryption(item: Any, field: str) -> dict:
    item = _object(item, field, "Encryption")
    enc_id = item.get("id") or ""
    if not enc_id:
        raise invalid(f"{field}.id is required")
    if not isinstance(enc_id, str) or not ID_RE.match(enc_id):
        raise invalid(f"{field}.id '{enc_id}' may only contain letters, digits, '_' and '-'")
    modes = [m for m in MODES if item.get(m) is not None]
    if not modes:
        raise invalid(f"{field}: one of aes128, sampleAes or mpegCenc is required (the encryption mode)")
    if len(modes) > 1:
        raise invalid(f"{field}: aes128, sampleAes and mpegCenc are a oneof (encryption_mode); "
                      f"{' and '.join(modes)} are both set")
    mode = modes[0]
    settings = _object(item[mode], f"{field}.{mode}", {"aes128": "Aes128Encryption",
                                                       "sampleAes": "SampleAesEncryption",
                                                       "mpegCenc": "MpegCommonEncryption"}[mode])
    out: dict[str, Any] = {"id": enc_id}
    if mode == "mpegCenc":
        scheme = settings.get("scheme") or ""
        if not scheme:
            raise invalid(f"{field}.mpegCenc.scheme is required: 'cenc' or 'cbcs'")
        if scheme not in SCHEMES:
            raise invalid(f"{field}.mpegCenc.scheme: unsupported encryption scheme '{scheme}'; supported schemes are "
                          "'cenc' and 'cbcs'")
        out["mpegCenc"] = {"scheme": scheme}
    else:
        out[mode] = {}

    source = _object(item.get("secretManagerKeySource"), f"{field}.secretManagerKeySource", "SecretManagerSource")
    if item.get("secretManagerKeySource") is None:
        raise invalid(f"{field}.secretManagerKeySource is required: the Secret Manager secret version that holds "
                      "the keys")
    version = source.get("secretVersion") or ""
    if not version:
        raise invalid(f"{field}.secretManagerKeySource.secretVersion is required")
    if not isinstance(version, str) or not SECRET_VERSION_RE.match(version):
        raise invalid(f"{field}.secretManagerKeySource.secretVersion: '{version}' must be of the form "
                      "projects/{project}/secrets/{secret_id}/versions/{version_number} (a numbered version; "
                      "aliases such as 'latest' are not supported)")
    out["secretManagerKeySource"] = {"secretVersion": version}

    if item.get("drmSystems") is None:
        raise invalid(f"{field}.drmSystems is required: enable at least one of widevine, fairplay, playready, "
                      "clearkey")
    drm = _object(item["drmSystems"], f"{field}.drmSystems", "DrmSystems")
    unknown = sorted(set(drm) - set(DRM_SYSTEMS))
    if unknown:
        raise invalid(f"Invalid JSON payload: unknown field '{unknown[0]}' in {field}.drmSystems")
    enabled = [name for name in DRM_SYSTEMS if drm.get(name) is not None]
    if not enabled:
        raise invalid(f"{field}.drmSystems: at least one DRM system must be specified (widevine, fairplay, "
                      "playready, clearkey)")
    for name in enabled:
        _object(drm[name], f"{field}.drmSystems.{name}", name.capitalize())
        if name not in _DRM[mode]:
            raise invalid(f"{field}.drmSystems.{name}: {name} is not supported with {mode} encryption (supported: "
                          + ", ".join(_DRM[mode]) + ")")
    if mode == "mpegCenc" and "fairplay" in enabled and out["mpegCenc"]["scheme"] != "cbcs":
        raise invalid(f"{field}.drmSystems.fairplay: FairPlay needs mpegCenc.scheme 'cbcs' (this one is "
                      f"'{out['mpegCenc']['scheme']}')")
    out["drmSystems"] = {name: {} for name in enabled}
    return out


def _check_sample_aes_codecs(field: str, mux: dict, streams: dict[str, dict]) -> None:
    """SAMPLE-AES TS (Apple's MPEG-2 Stream Encryption Format) defines H.264 video and AAC, AC-3, E-AC-3 audio."""
    for name in mux["elementaryStreams"]:
        stream = streams.get(name) or {}
        video, audio = stream.get("videoStream"), stream.get("audioStream")
        if video is not None and "h264" not in video:
            codec = next(iter(video), "?")
            raise invalid(f"{field}: sampleAes encryption covers H.264 video only; elementary stream '{name}' is "
                          f"{codec}")
        if audio is not None:
            codec = audio.get("codec", "aac")
            if codec not in ("aac", "aac-he", "aac-he-v2", "ac3", "eac3"):
                raise invalid(f"{field}: sampleAes encryption covers AAC, AC-3 and E-AC-3 audio; elementary stream "
                              f"'{name}' is {codec}")


def encryptions(items: Any, muxes: list[dict], manifests: list[dict], path: str,
                streams: dict[str, dict] | None = None) -> list[dict]:
    """Validate ``encryptions`` and every ``muxStreams[].encryptionId``; return the normalised encryptions.
    ``streams``: the elementary streams by key (the codecs SAMPLE-AES allows)."""
    if items is None:
        items = []
    if not isinstance(items, list):
        raise invalid(f"{path}.encryptions must be a list")
    out: list[dict] = []
    by_id: dict[str, dict] = {}
    for i, item in enumerate(items):
        field = f"{path}.encryptions[{i}]"
        entry = _encryption(item, field)
        if entry["id"] in by_id:
            raise invalid(f"{field}.id: duplicate encryption id '{entry['id']}'")
        by_id[entry["id"]] = entry
        out.append(entry)

    manifest_of: dict[str, list[tuple[int, str]]] = {}
    for m, manifest in enumerate(manifests):
        for name in manifest["muxStreams"]:
            manifest_of.setdefault(name, []).append((m, manifest["type"]))
    for i, mux in enumerate(muxes):
        enc_id = mux.get("encryptionId")
        if not enc_id:
            continue
        field = f"{path}.muxStreams[{i}].encryptionId"
        if enc_id not in by_id:
            raise invalid(f"{field}: '{enc_id}' does not match the id of any entry of {path}.encryptions")
        mode, scheme = mode_of(by_id[enc_id])
        label = f"{mode} ({scheme})" if scheme else mode
        if mux["container"] not in _CONTAINERS[mode]:
            raise invalid(f"{field}: {label} encryption needs a mux stream with container "
                          f"'{_CONTAINERS[mode][0]}' (this one is '{mux['container']}')")
        if mode == "sampleAes":
            _check_sample_aes_codecs(field, mux, streams or {})
        for m, kind in manifest_of.get(mux["key"], []):
            if kind == "HLS" and mode == "mpegCenc" and scheme != "cbcs":
                raise invalid(f"{field}: HLS manifests ({path}.manifests[{m}]) support mpegCenc with scheme "
                              f"'cbcs' only; encryption '{enc_id}' uses '{scheme}'")
            if kind == "HLS" and mode == "mpegCenc" and "fairplay" not in by_id[enc_id]["drmSystems"]:
                raise invalid(f"{field}: mpegCenc in an HLS manifest ({path}.manifests[{m}]) needs drmSystems "
                              f"fairplay in encryption '{enc_id}'")
            if kind == "DASH" and not set(by_id[enc_id]["drmSystems"]) & {"widevine", "playready"}:
                raise invalid(f"{field}: a DASH manifest ({path}.manifests[{m}]) needs drmSystems widevine or "
                              f"playready in encryption '{enc_id}'")
    for i, mux in enumerate(muxes):
        enc_id = mux.get("encryptionId")
        if enc_id and mode_of(by_id[enc_id]) not in IMPLEMENTED:
            mode, scheme = mode_of(by_id[enc_id])
            where = f"{path}.encryptions[{out.index(by_id[enc_id])}]." + (f"mpegCenc.scheme '{scheme}'"
                                                                          if scheme else mode)
            raise unimplemented(f"{where} (used by {path}.muxStreams[{i}])")
    return out
