"""JobConfig.elementaryStreams[]: videoStream (h264, h265, vp9), audioStream and textStream, validated with their
defaults.

    videoStream.h264   widthPixels/heightPixels, frameRate, bitrate and VBV, GOP, profile, preset, pixelFormat
                       (yuv420p default; yuv422p, yuv444p and the 10-bit forms; 12-bit answers 501: no H.264 encoder
                       here writes 12-bit). A profile below what the pixel format needs is raised to the one it needs
                       (high -> high10/high422/high444), as the reference warns the service does. sdr | hlg.
    videoStream.h265   the same fields (vbr/crf, VBV, GOP, bFrameCount, bPyramid, aqStrength, allowOpenGop, preset,
                       tune) with x265 profiles (main, main10, main12, main422-10, main444-12, ... and -intra);
                       all nine pixel formats, 12-bit included (libx265 here is built 8/10/12-bit). sdr | hlg | hdr10.
    videoStream.vp9    vbr only (crf is INVALID_ARGUMENT, as the service answers since 2022), GOP, profile0-3
                       following the pixel format (all nine). sdr | hlg.
                       (hlg / hdr10: the colour_format oneof, converted from SDR by hdr.py; hdr10 on h264 / vp9 is an
                       unknown name, as the REST API answers it.)
    audioStream        codec (aac, aac-he, aac-he-v2, mp3, ac3, eac3, vorbis), bitrate, channelCount 1-6 (mp3: 1-2),
                       channelLayout (fl fr sl sr fc lfe), sampleRateHertz (mp3: its nine rates) and
                       mapping[] {atomKey, inputKey, inputTrack, inputChannel, outputChannel, gainDb} -> ffmpeg pan.
    textStream         codec webvtt (default; into a ``vtt`` mux stream) or cea608 / cea708 (embedded into every
                       output video), languageCode, displayName, mapping[] {atomKey, inputKey, inputTrack}. srt and
                       ttml (listed for the field, but input caption formats only: the service outputs CEA-608/708
                       and WebVTT) are INVALID_ARGUMENT naming the codec field.
"""

from __future__ import annotations

from typing import Any

from ..errors import invalid, unimplemented
from .common import (
    AUDIO_CODECS,
    CHANNEL_NAMES,
    DEFAULT_GOP_DURATION,
    EMBEDDED_TEXT_CODECS,
    H265_PROFILES,
    IMPLEMENTED_AUDIO_CODECS,
    IMPLEMENTED_PIXEL_FORMATS,
    KNOWN_H264_PROFILES,
    LANGUAGE_RE,
    MP3_SAMPLE_RATES,
    OUTPUT_TEXT_CODECS,
    PIXEL_FORMATS,
    TEXT_CODECS,
    VP9_PROFILES,
    X264_PRESETS,
    X264_TUNES,
    X265_TUNES,
    enum_name,
    format_duration,
    keyed_entries,
    parse_duration,
    positive_int,
)


def elementary_streams(streams: Any, path: str, inputs: list[dict] | None = None,
                       atoms: list[dict] | None = None) -> list[dict]:
    atom_inputs = {a["key"]: set(a["inputs"]) for a in atoms or []}
    input_keys = {i["key"] for i in inputs or []}
    out = []
    for field, stream, key in keyed_entries(streams, path, "elementaryStreams", "elementary stream",
                                             "ElementaryStream"):
        kinds = [k for k in ("videoStream", "audioStream", "textStream") if stream.get(k) is not None]
        if len(kinds) != 1:
            raise invalid(f"{field}: exactly one of videoStream, audioStream or textStream must be set")
        if kinds[0] == "videoStream":
            out.append({"key": key, "videoStream": video_stream(stream["videoStream"], f"{field}.videoStream")})
        elif kinds[0] == "audioStream":
            audio = audio_stream(stream["audioStream"], f"{field}.audioStream")
            _check_mappings(audio.get("mapping") or [], f"{field}.audioStream", input_keys, atom_inputs)
            out.append({"key": key, "audioStream": audio})
        else:
            text = text_stream(stream["textStream"], f"{field}.textStream")
            _check_mappings(text.get("mapping") or [], f"{field}.textStream", input_keys, atom_inputs)
            out.append({"key": key, "textStream": text})
    embedded = [s["key"] for s in out if s.get("textStream", {}).get("codec") in EMBEDDED_TEXT_CODECS]
    if len(embedded) > 1:
        raise invalid(f"{path}.elementaryStreams: only one embedded (cea608 / cea708) text stream is supported; "
                      f"got {', '.join(embedded)}")
    return out


def _check_mappings(mappings: list[dict], field: str, input_keys: set[str], atoms: dict[str, set[str]]) -> None:
    for i, mapping in enumerate(mappings):
        where = f"{field}.mapping[{i}]"
        if mapping["atomKey"] not in atoms:
            raise invalid(f"{where}.atomKey: unknown edit atom key '{mapping['atomKey']}'")
        if mapping["inputKey"] not in input_keys:
            raise invalid(f"{where}.inputKey: unknown input key '{mapping['inputKey']}'")
        if mapping["inputKey"] not in atoms[mapping["atomKey"]]:
            raise invalid(f"{where}.inputKey: input '{mapping['inputKey']}' is not one of the inputs of edit atom "
                          f"'{mapping['atomKey']}'")


VIDEO_CODECS = ("h264", "h265", "vp9")
MAX_BITRATE = {"h264": 800_000_000, "h265": 800_000_000, "vp9": 480_000_000}


def video_codec(video: dict) -> tuple[str, dict]:
    """(codec, its settings) of a normalised videoStream: ("h265", {...})."""
    codec = next(c for c in VIDEO_CODECS if c in video)
    return codec, video[codec]


def video_stream(video: dict, field: str) -> dict:
    if not isinstance(video, dict):
        raise invalid(f"{field} must be a VideoStream object")
    codecs = [c for c in VIDEO_CODECS if video.get(c) is not None]
    if len(codecs) != 1:
        raise invalid(f"{field}: exactly one of h264, h265 or vp9 codec settings must be set")
    codec = codecs[0]
    if not isinstance(video[codec], dict):
        raise invalid(f"{field}.{codec} must be a {codec.upper()}CodecSettings object")
    h = dict(video[codec])
    given = video[codec]
    field = f"{field}.{codec}"
    for dim in ("widthPixels", "heightPixels"):
        if h.get(dim):
            value = positive_int(h[dim], f"{field}.{dim}", low=2, high=8192)
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
    h["bitrateBps"] = positive_int(h["bitrateBps"], f"{field}.bitrateBps", low=1000, high=MAX_BITRATE[codec])
    h["pixelFormat"] = h.get("pixelFormat") or "yuv420p"
    if h["pixelFormat"] not in PIXEL_FORMATS:
        raise invalid(f"{field}.pixelFormat: unknown pixel format '{h['pixelFormat']}'; supported: "
                      + ", ".join(PIXEL_FORMATS))
    if codec == "h264" and h["pixelFormat"] not in IMPLEMENTED_PIXEL_FORMATS:
        raise unimplemented(f"{field}.pixelFormat '{h['pixelFormat']}': no H.264 encoder here writes 12-bit (x264 "
                            "stops at 10-bit; h265 and vp9 encode all nine pixel formats)")
    h["rateControlMode"] = h.get("rateControlMode") or "vbr"
    modes = ("vbr",) if codec == "vp9" else ("vbr", "crf")
    if h["rateControlMode"] not in modes:
        raise invalid(f"{field}.rateControlMode must be {' or '.join(repr(m) for m in modes)}, got "
                      f"'{h['rateControlMode']}'" + (" (VP9 does not support crf)" if codec == "vp9" else ""))
    h["crfLevel"] = positive_int(h.get("crfLevel", 21) or 21, f"{field}.crfLevel", low=10, high=36)
    if h.get("enableTwoPass") and h["rateControlMode"] != "vbr":
        raise invalid(f"{field}.enableTwoPass requires rateControlMode 'vbr'")
    if h.get("gopDuration") is not None and h.get("gopFrameCount"):
        raise invalid(f"{field}: only one of gopDuration and gopFrameCount may be set")
    if h.get("gopFrameCount"):
        h["gopFrameCount"] = positive_int(h["gopFrameCount"], f"{field}.gopFrameCount", low=1, high=100000)
    else:
        gop = parse_duration(h.get("gopDuration", DEFAULT_GOP_DURATION), f"{field}.gopDuration")
        if gop <= 0:
            raise invalid(f"{field}.gopDuration must be greater than 0")
        h["gopDuration"] = format_duration(gop)
    if h.get("frameRateConversionStrategy") is not None:
        h["frameRateConversionStrategy"] = enum_name("frameRateConversionStrategy", h["frameRateConversionStrategy"],
                                                     f"{field}.frameRateConversionStrategy")
    if codec == "vp9":
        return {"vp9": _vp9(h, field)}
    h["vbvSizeBits"] = positive_int(h.get("vbvSizeBits") or h["bitrateBps"], f"{field}.vbvSizeBits", low=1)
    h["vbvFullnessBits"] = positive_int(h.get("vbvFullnessBits") or h["vbvSizeBits"] * 9 // 10,
                                         f"{field}.vbvFullnessBits", low=1)
    if h["vbvFullnessBits"] > h["vbvSizeBits"]:
        raise invalid(f"{field}.vbvFullnessBits must be less than or equal to vbvSizeBits")
    h["preset"] = h.get("preset") or "veryfast"
    if h["preset"] not in X264_PRESETS:  # x265 has the same preset names
        raise invalid(f"{field}.preset: unknown {codec.upper()} preset '{h['preset']}'")
    if h.get("bFrameCount") is not None:
        h["bFrameCount"] = positive_int(h["bFrameCount"], f"{field}.bFrameCount", low=0, high=16)
        if h.get("gopFrameCount") and h["bFrameCount"] >= h["gopFrameCount"]:
            raise invalid(f"{field}.bFrameCount must be less than gopFrameCount")
    if h.get("aqStrength") is not None:
        try:
            aq = float(h["aqStrength"])
        except (TypeError, ValueError):
            raise invalid(f"Invalid value at '{field}.aqStrength': expected a number") from None
        if not 0 <= aq <= 1:
            raise invalid(f"{field}.aqStrength must be between 0 and 1")
        h["aqStrength"] = int(aq) if aq.is_integer() else aq
    if codec == "h265":
        return {"h265": _h265(h, given, field)}
    h.setdefault("entropyCoder", "cabac")
    if h["entropyCoder"] not in ("cabac", "cavlc"):
        raise invalid(f"{field}.entropyCoder must be 'cabac' or 'cavlc', got '{h['entropyCoder']}'")
    h["profile"] = h.get("profile") or "high"
    if h["profile"] not in KNOWN_H264_PROFILES:
        raise invalid(f"{field}.profile: unknown H.264 profile '{h['profile']}'")
    h["profile"] = profile_for(h["profile"], h["pixelFormat"])
    if h["profile"] == "baseline" and h["entropyCoder"] == "cabac" and "entropyCoder" not in given:
        h["entropyCoder"] = "cavlc"
    if h.get("tune") and h["tune"] not in X264_TUNES:
        raise invalid(f"{field}.tune: unknown H.264 tune '{h['tune']}'")
    _color_format(h, given, field, ("sdr", "hlg"))
    return {"h264": h}


# x265 profile a pixel format needs (8-bit 4:2:2 has no profile of its own: x265 writes it as Main 4:2:2 10).
_H265_NEEDS = {"yuv420p": "main", "yuv422p": "main422-10", "yuv444p": "main444-8", "yuv420p10": "main10",
               "yuv422p10": "main422-10", "yuv444p10": "main444-10", "yuv420p12": "main12",
               "yuv422p12": "main422-12", "yuv444p12": "main444-12"}


def _h265_caps(profile: str) -> tuple[int, int]:
    """(bit depth, chroma rank 0=4:2:0 1=4:2:2 2=4:4:4) a profile carries."""
    base = profile.replace("-intra", "").replace("stillpicture", "")
    depth = 12 if "12" in base else 10 if "10" in base else 8
    chroma = 2 if "444" in base else 1 if "422" in base else 0
    return depth, chroma


def _h265(h: dict, given: dict, field: str) -> dict:
    """H265CodecSettings: the profile is raised to what the pixel format needs (the reference: a profile may
    override other fields; here the pixel format wins and the profile follows, keeping -intra)."""
    profile = h.get("profile") or ""
    if profile and profile not in H265_PROFILES:
        raise invalid(f"{field}.profile: unknown H.265 profile '{profile}'; supported: " + ", ".join(H265_PROFILES))
    need = _H265_NEEDS[h["pixelFormat"]]
    if not profile:
        profile = need
    else:
        have, want = _h265_caps(profile), _h265_caps(need)
        if have[0] < want[0] or have[1] < want[1]:
            intra = "-intra" if profile.endswith("-intra") and need + "-intra" in H265_PROFILES else ""
            profile = need + intra
    h["profile"] = profile
    if h.get("tune") and h["tune"] not in X265_TUNES:
        raise invalid(f"{field}.tune: unknown H.265 tune '{h['tune']}'; supported: " + ", ".join(sorted(X265_TUNES)))
    for name in ("allowOpenGop", "bPyramid", "enableTwoPass"):
        if name in h and not isinstance(h[name], bool):
            raise invalid(f"Invalid value at '{field}.{name}': expected true or false")
    _color_format(h, given, field, ("sdr", "hlg", "hdr10"))
    return h


def _vp9(h: dict, field: str) -> dict:
    """Vp9CodecSettings: profile0 8-bit 4:2:0, profile1 8-bit 4:2:2/4:4:4, profile2 10/12-bit 4:2:0, profile3
    10/12-bit 4:2:2/4:4:4: the profile is the one the pixel format needs (the reference warns a profile may
    override other fields; here the pixel format wins). crfLevel is accepted and unused (the reference: "not
    supported")."""
    profile = h.get("profile") or "profile0"
    if profile not in VP9_PROFILES:
        raise invalid(f"{field}.profile: unknown VP9 profile '{profile}'; supported: " + ", ".join(VP9_PROFILES))
    fmt = h["pixelFormat"]
    need = (2 if fmt[-2:] in ("10", "12") else 0) + (0 if fmt.startswith("yuv420") else 1)
    h["profile"] = f"profile{need}"  # libvpx-vp9 writes the profile its input's pixel format needs
    _color_format(h, h, field, ("sdr", "hlg"))
    return h


def _color_format(h: dict, given: dict, field: str, allowed: tuple[str, ...]) -> None:
    """The ``color_format`` oneof of a codec settings: empty messages (sdr, hlg; hdr10 for H.265 only, the other
    codecs have no such field, which the REST API answers as an unknown name). Converted by hdr.py."""
    for name in ("sdr", "hlg", "hdr10"):
        if given.get(name) is None:
            h.pop(name, None)
            continue
        if name not in allowed:
            raise invalid(f'Invalid JSON payload received. Unknown name "{name}" at \'{field}\': Cannot find field.')
        if not isinstance(given[name], dict):
            raise invalid(f"Invalid value at '{field}.{name}': expected an object such as {{}}")
        h[name] = {}
    colors = [c for c in allowed if h.get(c) is not None]
    if len(colors) > 1:
        raise invalid(f"{field}: only one of {', '.join(allowed[:-1])} or {allowed[-1]} may be set (color_format "
                      f"is a oneof); got {' and '.join(colors)}")


def audio_stream(audio: dict, field: str) -> dict:
    a = dict(audio)
    a.setdefault("codec", "aac")
    if a["codec"] not in AUDIO_CODECS:
        raise invalid(f"{field}.codec: unknown audio codec '{a['codec']}'")
    if a["codec"] not in IMPLEMENTED_AUDIO_CODECS:
        raise unimplemented(f"{field}.codec '{a['codec']}'")
    if not a.get("bitrateBps"):
        raise invalid(f"{field}.bitrateBps is required")
    a["bitrateBps"] = positive_int(a["bitrateBps"], f"{field}.bitrateBps", low=1, high=10_000_000)
    a["channelCount"] = positive_int(a.get("channelCount") or 2, f"{field}.channelCount", low=1, high=6)
    layout = a.get("channelLayout") or (["fl", "fr"] if a["channelCount"] == 2 else [])
    if layout and len(layout) != a["channelCount"]:
        raise invalid(f"{field}.channelLayout must have channelCount ({a['channelCount']}) entries")
    if layout:
        a["channelLayout"] = list(layout)
    a["sampleRateHertz"] = positive_int(a.get("sampleRateHertz") or 48000, f"{field}.sampleRateHertz",
                                         low=8000, high=96000)
    if a["codec"] == "mp3":  # MPEG audio layer III: mono or stereo, nine sample rates
        if a["channelCount"] > 2:
            raise invalid(f"{field}.channelCount must be 1 or 2 for codec 'mp3', got {a['channelCount']}")
        if a["sampleRateHertz"] not in MP3_SAMPLE_RATES:
            raise invalid(f"{field}.sampleRateHertz {a['sampleRateHertz']} is not an MP3 sample rate; supported: "
                          + ", ".join(map(str, MP3_SAMPLE_RATES)))
    if layout:
        for j, name in enumerate(layout):
            if name not in CHANNEL_NAMES:
                raise invalid(f"{field}.channelLayout[{j}]: unknown channel '{name}'; supported: "
                              + ", ".join(CHANNEL_NAMES))
        if len(set(layout)) != len(layout):
            raise invalid(f"{field}.channelLayout names a channel twice")
    mappings = a.get("mapping") or []
    if not isinstance(mappings, list):
        raise invalid(f"{field}.mapping must be a list")
    a.pop("mapping", None)
    if mappings:
        a["mapping"] = [_audio_mapping(m, f"{field}.mapping[{j}]", a["channelCount"]) for j, m in enumerate(mappings)]
    return a


def _audio_mapping(mapping: Any, field: str, channels: int) -> dict:
    if not isinstance(mapping, dict):
        raise invalid(f"{field} must be an AudioMapping object")
    for name in ("atomKey", "inputKey"):
        if not mapping.get(name):
            raise invalid(f"{field}.{name} is required")
    out = {"atomKey": mapping["atomKey"], "inputKey": mapping["inputKey"]}
    for name in ("inputTrack", "inputChannel", "outputChannel"):
        out[name] = positive_int(mapping.get(name) or 0, f"{field}.{name}", low=0, high=1023)
    if out["outputChannel"] >= channels:
        raise invalid(f"{field}.outputChannel must be less than channelCount ({channels}), got {out['outputChannel']}")
    gain = mapping.get("gainDb", 0) or 0
    if isinstance(gain, bool) or not isinstance(gain, (int, float)):
        raise invalid(f"Invalid value at '{field}.gainDb': expected a number")
    if not -96 <= gain <= 48:
        raise invalid(f"{field}.gainDb must be between -96 and 48, got {gain:g}")
    out["gainDb"] = gain
    return out


def text_stream(text: Any, field: str) -> dict:
    if not isinstance(text, dict):
        raise invalid(f"{field} must be a TextStream object")
    t: dict[str, Any] = {"codec": text.get("codec") or "webvtt"}
    if t["codec"] not in TEXT_CODECS:
        raise invalid(f"{field}.codec: unknown text codec '{t['codec']}'; supported: " + ", ".join(TEXT_CODECS))
    if t["codec"] not in OUTPUT_TEXT_CODECS:
        raise invalid(f"{field}.codec: '{t['codec']}' is not an output caption format; supported output captions: "
                      + ", ".join(OUTPUT_TEXT_CODECS) + f" ({t['codec'].upper()} is read as an input caption file: "
                      "map it into a webvtt, cea608 or cea708 text stream)")
    for name in ("languageCode", "displayName"):
        value = text.get(name) or ""
        if not isinstance(value, str):
            raise invalid(f"Invalid value at '{field}.{name}': expected a string")
        if value:
            t[name] = value
    if t.get("languageCode") and not LANGUAGE_RE.match(t["languageCode"]):
        raise invalid(f"{field}.languageCode '{t['languageCode']}' is not a BCP-47 language code such as en-US")
    mappings = text.get("mapping") or []
    if not isinstance(mappings, list):
        raise invalid(f"{field}.mapping must be a list")
    if not mappings:
        raise invalid(f"{field}.mapping must name the edit atom and input the text comes from")
    out = []
    for j, mapping in enumerate(mappings):
        where = f"{field}.mapping[{j}]"
        if not isinstance(mapping, dict):
            raise invalid(f"{where} must be a TextMapping object")
        for name in ("atomKey", "inputKey"):
            if not mapping.get(name):
                raise invalid(f"{where}.{name} is required")
        out.append({"atomKey": mapping["atomKey"], "inputKey": mapping["inputKey"],
                    "inputTrack": positive_int(mapping.get("inputTrack") or 0, f"{where}.inputTrack", low=0,
                                               high=1023)})
    t["mapping"] = out
    return t


def profile_for(profile: str, pixel_format: str) -> str:
    """The lowest H.264 profile at or above ``profile`` that can carry ``pixel_format``."""
    need = {"yuv420p": "baseline", "yuv420p10": "high10", "yuv422p": "high422", "yuv422p10": "high422",
            "yuv444p": "high444", "yuv444p10": "high444"}[pixel_format]
    order = ["baseline", "main", "high", "high10", "high422", "high444"]
    return order[max(order.index(profile), order.index(need))]



def gop_seconds(settings: dict) -> float:
    """GOP length in seconds of normalised H264/H265/Vp9CodecSettings."""
    if settings.get("gopFrameCount"):
        return settings["gopFrameCount"] / float(settings["frameRate"])
    return parse_duration(settings.get("gopDuration", DEFAULT_GOP_DURATION), "gopDuration")

