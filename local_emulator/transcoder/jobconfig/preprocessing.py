"""JobConfig.inputs[].preprocessingConfig: validation with the reference's defaults and ranges, and the ffmpeg filters
that carry each part out.

    color      {saturation, contrast, brightness} in [-1, 1]        -> eq
    denoise    {strength in [0, 1], tune "standard" | "grain"}       -> hqdn3d
    deblock    {strength in [0, 1], enabled}                         -> deblock
    audio      {lufs in [-24, 0] (0 = off), highBoost, lowBoost}     -> loudnorm, treble, bass
    crop       {topPixels, bottomPixels, leftPixels, rightPixels}    -> crop
    pad        {topPixels, bottomPixels, leftPixels, rightPixels}    -> pad (black)
    deinterlace {yadif {mode, disableSpatialInterlacing, parity, deinterlaceAllFrames}
                 | bwdif {mode, parity, deinterlaceAllFrames}}       -> yadif / bwdif

Video order: deinterlace, crop, denoise, deblock, color, pad (then each rendition's fps/scale). ``mode`` send_frame
(default) keeps the frame rate; send_field outputs one frame per field (the field rate). ``parity`` auto (default),
tff or bff. ``deinterlaceAllFrames`` false (default) deinterlaces only frames flagged interlaced
(ffmpeg deint=interlaced).
"""

from __future__ import annotations

from typing import Any

from ..errors import invalid
from .common import number_in_range, positive_int

DEINTERLACE_MODES = ("send_frame", "send_field")
PARITIES = ("auto", "tff", "bff")
DENOISE_TUNES = ("standard", "grain")
_SIDES = ("topPixels", "bottomPixels", "leftPixels", "rightPixels")


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise invalid(f"Invalid value at '{field}': expected true or false")
    return value


def _choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise invalid(f"{field} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _object(value: Any, field: str, name: str) -> dict:
    if not isinstance(value, dict):
        raise invalid(f"{field} must be a{'n' if name[0] in 'AEIOU' else ''} {name} object")
    return value


def preprocessing_config(config: Any, field: str) -> dict:
    """The normalised PreprocessingConfig (only the parts that were set, with their defaults filled)."""
    config = _object(config, field, "PreprocessingConfig")
    out: dict[str, Any] = {}
    known = {"color", "denoise", "deblock", "audio", "crop", "pad", "deinterlace"}
    for name in config:
        if name not in known:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{name}\" at '{field}'")
    if config.get("color") is not None:
        color = _object(config["color"], f"{field}.color", "Color")
        out["color"] = {k: number_in_range(color.get(k, 0), f"{field}.color.{k}", -1, 1)
                        for k in ("saturation", "contrast", "brightness")}
    if config.get("denoise") is not None:
        denoise = _object(config["denoise"], f"{field}.denoise", "Denoise")
        out["denoise"] = {"strength": number_in_range(denoise.get("strength", 0), f"{field}.denoise.strength", 0, 1),
                          "tune": _choice(denoise.get("tune") or "standard", f"{field}.denoise.tune", DENOISE_TUNES)}
    if config.get("deblock") is not None:
        deblock = _object(config["deblock"], f"{field}.deblock", "Deblock")
        out["deblock"] = {"strength": number_in_range(deblock.get("strength", 0), f"{field}.deblock.strength", 0, 1),
                          "enabled": _flag(deblock.get("enabled", False), f"{field}.deblock.enabled")}
    if config.get("audio") is not None:
        audio = _object(config["audio"], f"{field}.audio", "Audio")
        out["audio"] = {"lufs": number_in_range(audio.get("lufs", 0), f"{field}.audio.lufs", -24, 0),
                        "highBoost": _flag(audio.get("highBoost", False), f"{field}.audio.highBoost"),
                        "lowBoost": _flag(audio.get("lowBoost", False), f"{field}.audio.lowBoost")}
    for part in ("crop", "pad"):
        if config.get(part) is not None:
            sides = _object(config[part], f"{field}.{part}", part.capitalize())
            out[part] = {s: positive_int(sides.get(s) or 0, f"{field}.{part}.{s}", low=0, high=8192) for s in _SIDES}
    if config.get("deinterlace") is not None:
        out["deinterlace"] = _deinterlace(_object(config["deinterlace"], f"{field}.deinterlace", "Deinterlace"),
                                          f"{field}.deinterlace")
    return out


def _deinterlace(config: dict, field: str) -> dict:
    kinds = [k for k in ("yadif", "bwdif") if config.get(k) is not None]
    if len(kinds) != 1:
        raise invalid(f"{field}: exactly one of yadif or bwdif must be set")
    kind = kinds[0]
    item = _object(config[kind], f"{field}.{kind}", "YadifConfig" if kind == "yadif" else "BwdifConfig")
    out: dict[str, Any] = {
        "mode": _choice(item.get("mode") or "send_frame", f"{field}.{kind}.mode", DEINTERLACE_MODES),
        "parity": _choice(item.get("parity") or "auto", f"{field}.{kind}.parity", PARITIES),
        "deinterlaceAllFrames": _flag(item.get("deinterlaceAllFrames", False), f"{field}.{kind}.deinterlaceAllFrames"),
    }
    if kind == "yadif":
        out["disableSpatialInterlacing"] = _flag(item.get("disableSpatialInterlacing", False),
                                                 f"{field}.yadif.disableSpatialInterlacing")
    elif "disableSpatialInterlacing" in item:
        raise invalid(f"Invalid JSON payload received. Unknown name \"disableSpatialInterlacing\" at "
                      f"'{field}.bwdif'")
    return {kind: out}


# ---------------------------------------------------------------------------------------------------------------
# ffmpeg filters


def _num(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def doubles_frame_rate(config: dict) -> bool:
    """send_field outputs one frame per field: the source's field rate."""
    deinterlace = (config or {}).get("deinterlace") or {}
    return any(v.get("mode") == "send_field" for v in deinterlace.values())


def video_filters(config: dict) -> list[str]:
    """The video filter chain of a normalised PreprocessingConfig, in the order the module docstring gives."""
    config = config or {}
    chain: list[str] = []
    deinterlace = config.get("deinterlace") or {}
    for kind, settings in deinterlace.items():
        mode = settings["mode"]
        if kind == "yadif" and settings.get("disableSpatialInterlacing"):
            mode += "_nospatial"
        deint = "all" if settings["deinterlaceAllFrames"] else "interlaced"
        chain.append(f"{kind}=mode={mode}:parity={settings['parity']}:deint={deint}")
    crop = config.get("crop")
    if crop and any(crop.values()):
        w, h = crop["leftPixels"] + crop["rightPixels"], crop["topPixels"] + crop["bottomPixels"]
        chain.append(f"crop=iw-{w}:ih-{h}:{crop['leftPixels']}:{crop['topPixels']}")
    denoise = config.get("denoise")
    if denoise and denoise["strength"] > 0:
        s = denoise["strength"]
        temporal = 0.5 if denoise["tune"] == "grain" else 1.0  # grain: keep more of the texture over time
        chain.append(f"hqdn3d=luma_spatial={_num(8 * s)}:chroma_spatial={_num(6 * s)}:"
                     f"luma_tmp={_num(12 * s * temporal)}:chroma_tmp={_num(9 * s * temporal)}")
    deblock = config.get("deblock")
    if deblock and deblock["enabled"] and deblock["strength"] > 0:
        s = deblock["strength"]
        chain.append(f"deblock=filter=strong:block=8:alpha={_num(s)}:beta={_num(s / 2)}:gamma={_num(s / 2)}:"
                     f"delta={_num(s / 2)}")
    color = config.get("color")
    if color and any(color.values()):
        chain.append(f"eq=contrast={_num(1 + color['contrast'])}:brightness={_num(color['brightness'])}:"
                     f"saturation={_num(1 + color['saturation'])}")
    pad = config.get("pad")
    if pad and any(pad.values()):
        w, h = pad["leftPixels"] + pad["rightPixels"], pad["topPixels"] + pad["bottomPixels"]
        chain.append(f"pad=iw+{w}:ih+{h}:{pad['leftPixels']}:{pad['topPixels']}:color=black")
    return chain


def audio_filters(config: dict) -> list[str]:
    audio = (config or {}).get("audio") or {}
    chain = []
    if audio.get("lufs"):
        chain.append(f"loudnorm=I={_num(audio['lufs'])}:TP=-1.5:LRA=11")
    if audio.get("lowBoost"):
        chain.append("bass=g=6")
    if audio.get("highBoost"):
        chain.append("treble=g=6")
    return chain


def cropped_size(config: dict, width: int, height: int) -> tuple[int, int]:
    """The frame size after crop and pad (what the renditions scale from)."""
    crop, pad = (config or {}).get("crop") or {}, (config or {}).get("pad") or {}
    width -= crop.get("leftPixels", 0) + crop.get("rightPixels", 0)
    height -= crop.get("topPixels", 0) + crop.get("bottomPixels", 0)
    if width <= 0 or height <= 0:
        raise invalid(f"preprocessingConfig.crop removes the whole {width}x{height} frame")
    return (width + pad.get("leftPixels", 0) + pad.get("rightPixels", 0),
            height + pad.get("topPixels", 0) + pad.get("bottomPixels", 0))
