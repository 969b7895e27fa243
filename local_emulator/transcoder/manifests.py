"""HLS master playlists and DASH MPDs for the Manifest entries of a job, written from what ffmpeg produced.

ffmpeg's ``hls`` muxer writes one media playlist per segmented mux stream (``<key>.m3u8``, with byte ranges when
``individualSegments`` is false); captions.py writes those of vtt mux streams. An HLS master lists each vtt mux stream
as ``EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs"`` (NAME = displayName, LANGUAGE = languageCode) with
``SUBTITLES="subs"`` on every variant, and embedded cea608/708 captions as ``TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",
INSTREAM-ID="CC1"``; a DASH MPD gets a ``text/vtt`` AdaptationSet per vtt mux stream. From those playlists and the
segment bytes this module derives durations, bandwidths and RFC 6381 codec strings, and writes the manifests named
in the config.

An HLG or HDR10 rendition (hdr.output_format: asked so, or an HLG / PQ input passed through) is signalled as such:
``VIDEO-RANGE=HLG`` / ``PQ`` on its ``EXT-X-STREAM-INF`` (SDR variants carry no VIDEO-RANGE, which means SDR), and in
the MPD the CICP colour properties of its Representation (hdr.dash_properties: BT.2020 primaries and matrix 9,
transfer 16 for PQ, 18 for HLG).
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from . import hdr
from .ffmpeg_plan import AUDIO_CODEC_STRINGS, PlannedMux
from .nal import unescape


@dataclass
class Segment:
    uri: str
    duration: float
    length: int  # bytes
    offset: int | None = None  # byte-range start when the mux stream is a single file


@dataclass
class MediaPlaylist:
    init_uri: str | None
    init_range: tuple[int, int] | None  # (length, offset)
    segments: list[Segment] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    def bandwidths(self) -> tuple[int, int]:
        """(peak, average) bits per second; a short last segment does not count toward the peak."""
        total_bytes = sum(s.length for s in self.segments)
        total = self.duration or 1.0
        average = math.ceil(total_bytes * 8 / total)
        longest = max((s.duration for s in self.segments), default=0.0)
        peaks = [s.length * 8 / s.duration for s in self.segments if s.duration >= 0.5 * longest and s.duration > 0]
        return max(math.ceil(max(peaks, default=average)), average), average


_ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def _attrs(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR_RE.findall(text)}


def parse_media_playlist(workdir: str, name: str) -> MediaPlaylist:
    playlist = MediaPlaylist(None, None)
    duration = None
    byterange = None
    next_offset = 0
    with open(os.path.join(workdir, name), encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if line.startswith("#EXT-X-MAP:"):
                attrs = _attrs(line[len("#EXT-X-MAP:"):])
                playlist.init_uri = attrs["URI"]
                if "BYTERANGE" in attrs:
                    length, _, offset = attrs["BYTERANGE"].partition("@")
                    playlist.init_range = (int(length), int(offset or 0))
            elif line.startswith("#EXTINF:"):
                duration = float(line[len("#EXTINF:"):].split(",")[0])
            elif line.startswith("#EXT-X-BYTERANGE:"):
                length, _, offset = line[len("#EXT-X-BYTERANGE:"):].partition("@")
                byterange = (int(length), int(offset) if offset else next_offset)
            elif line and not line.startswith("#"):
                if byterange:
                    segment = Segment(line, duration or 0.0, byterange[0], byterange[1])
                    next_offset = byterange[1] + byterange[0]
                else:
                    segment = Segment(line, duration or 0.0, os.path.getsize(os.path.join(workdir, line)))
                playlist.segments.append(segment)
                duration, byterange = None, None
    return playlist


# ------------------------------------------------------------------------------------------------ codec strings


def _read(workdir: str, uri: str, offset: int = 0, length: int = 1 << 16) -> bytes:
    with open(os.path.join(workdir, uri), "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def video_codec_string(workdir: str, mux: PlannedMux, playlist: MediaPlaylist) -> str:
    """RFC 6381 codec string of the mux stream's video: avc1.PPCCLL (avcC box / first SPS), hvc1|hev1.P.C.TL.CC
    (hvcC box / first SPS's profile_tier_level; TS carries its parameter sets in band: hev1) or vp09.PP.LL.DD (vpcC
    box); a profile default when the bytes cannot be read."""
    codec = mux.video.codec if mux.video else "h264"
    fallback = _CODEC_FALLBACKS[codec].get(mux.video.settings.get("profile", "") if mux.video else "",
                                           _CODEC_FALLBACKS[codec][""])
    try:
        if mux.container == "fmp4" and playlist.init_uri:
            offset, length = (playlist.init_range[1], playlist.init_range[0]) if playlist.init_range else (0, 1 << 16)
            return _from_sample_entry(codec, _read(workdir, playlist.init_uri, offset, length)) or fallback
        if playlist.segments:
            first = playlist.segments[0]
            data = _read(workdir, first.uri, first.offset or 0, min(first.length, 1 << 16))
            return _from_annexb(codec, data) or fallback
    except OSError:
        pass
    return fallback


_CODEC_FALLBACKS = {
    "h264": {"baseline": "avc1.42c01e", "main": "avc1.4d401f", "high": "avc1.640028", "": "avc1.640028"},
    "h265": {"main10": "hvc1.2.4.L93.B0", "main12": "hvc1.4.10.L93.B0", "": "hvc1.1.6.L93.B0"},
    "vp9": {"profile1": "vp09.01.31.08", "profile2": "vp09.02.31.10", "profile3": "vp09.03.31.10",
            "": "vp09.00.31.08"},
}


def _hevc_string(prefix: str, ptl: bytes) -> str:
    """ISO/IEC 14496-15 Annex E: profile_tier_level bytes (space/tier/idc, 4 compat, 6 constraint, level)."""
    space = "" if not ptl[0] >> 6 else "ABC"[(ptl[0] >> 6) - 1]
    tier = "H" if ptl[0] & 0x20 else "L"
    compat = int.from_bytes(ptl[1:5], "big")
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraint = list(ptl[5:11])
    while constraint and constraint[-1] == 0:
        constraint.pop()
    parts = [prefix, f"{space}{ptl[0] & 0x1F}", f"{reversed_compat:X}", f"{tier}{ptl[11]}"]
    parts += [f"{b:X}" for b in constraint]
    return ".".join(parts)


def _from_sample_entry(codec: str, data: bytes) -> str:
    if codec == "h264":
        at = data.find(b"avcC")
        return "avc1." + data[at + 5: at + 8].hex() if at >= 0 and len(data) >= at + 8 else ""
    if codec == "h265":
        at = data.find(b"hvcC")
        if at < 0 or len(data) < at + 17:
            return ""
        prefix = "hev1" if data.rfind(b"hev1", 0, at) >= 0 else "hvc1"
        return _hevc_string(prefix, data[at + 5: at + 17])
    at = data.find(b"vpcC")  # FullBox: version, flags(3), profile, level, bitDepth(4)|chroma(3)|range(1)
    if at < 0 or len(data) < at + 11:
        return ""
    profile, level, depth = data[at + 8], data[at + 9], data[at + 10] >> 4
    return f"vp09.{profile:02d}.{level or 31:02d}.{depth:02d}"


def _from_annexb(codec: str, data: bytes) -> str:
    at = 0
    while True:
        at = data.find(b"\x00\x00\x01", at)
        if at < 0 or at + 7 > len(data):
            return ""
        if codec == "h264" and data[at + 3] & 0x1F == 7:
            return "avc1." + data[at + 4: at + 7].hex()
        if codec == "h265" and (data[at + 3] >> 1) & 0x3F == 33:  # SPS: 2-byte header, 1 byte, then the PTL
            ptl = unescape(data[at + 5: at + 40])[1:13]
            return _hevc_string("hev1", ptl) if len(ptl) == 12 else ""
        at += 3


# ------------------------------------------------------------------------------------------------ HLS master


SUBTITLES_GROUP = "subs"
CAPTIONS_GROUP = "cc"


def _quoted(text: str) -> str:
    """An HLS quoted-string may not hold a double quote or a line break."""
    return text.replace('"', "'").replace("\n", " ").replace("\r", " ")


def _label(mux: PlannedMux) -> str:
    return mux.text.name or mux.text.language or mux.key


def _frame_rate(mux: PlannedMux) -> str:
    return f"{float(mux.video.fps):.3f}"


def write_hls_master(workdir: str, manifest: dict, muxes: dict[str, PlannedMux],
                     playlists: dict[str, MediaPlaylist], codecs: dict[str, str]) -> None:
    members = [muxes[name] for name in manifest["muxStreams"]]
    audio_only = [m for m in members if m.audio and not m.video]
    with_video = [m for m in members if m.video]
    version = 7 if any(m.container == "fmp4" for m in members) else 6
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", "#EXT-X-INDEPENDENT-SEGMENTS"]
    audio_peak = 0
    audio_codec = ""
    if with_video and audio_only:
        for i, mux in enumerate(audio_only):
            lines.append(f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="{mux.key}",'
                         f'DEFAULT={"YES" if i == 0 else "NO"},AUTOSELECT=YES,'
                         f'CHANNELS="{mux.audio.channels}",URI="{mux.playlist}"')
            audio_peak = max(audio_peak, playlists[mux.key].bandwidths()[0])
        audio_codec = AUDIO_CODEC_STRINGS[audio_only[0].audio.codec]
    texts = [m for m in members if m.text]
    for mux in texts:
        lines.append(f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",NAME="{_quoted(_label(mux))}",'
                     + (f'LANGUAGE="{_quoted(mux.text.language)}",' if mux.text.language else "")
                     + f'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="{mux.playlist}"')
    captions = next((m.video.captions for m in with_video if m.video.captions), None)
    if captions:
        lines.append(f'#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="{CAPTIONS_GROUP}",'
                     f'NAME="{_quoted(captions.name or captions.language or "CC1")}",'
                     + (f'LANGUAGE="{_quoted(captions.language)}",' if captions.language else "")
                     + 'DEFAULT=NO,AUTOSELECT=YES,INSTREAM-ID="CC1"')
    variants = with_video or audio_only
    for mux in variants:
        peak, average = playlists[mux.key].bandwidths()
        codec_list = [codecs[mux.key]] if mux.video else []
        if mux.audio:
            codec_list.append(AUDIO_CODEC_STRINGS[mux.audio.codec])
        elif audio_codec:
            codec_list.append(audio_codec)
            peak += audio_peak
            average += audio_peak
        attrs = [f"BANDWIDTH={peak}", f"AVERAGE-BANDWIDTH={average}", f'CODECS="{",".join(codec_list)}"']
        if mux.video:
            attrs += [f"RESOLUTION={mux.video.width}x{mux.video.height}", f"FRAME-RATE={_frame_rate(mux)}"]
            if video_range := hdr.video_range(mux.video.color_format):
                attrs.append(f"VIDEO-RANGE={video_range}")
            if audio_codec and not mux.audio:
                attrs.append('AUDIO="audio"')
        if texts:
            attrs.append(f'SUBTITLES="{SUBTITLES_GROUP}"')
        if captions and mux.video:
            attrs.append(f'CLOSED-CAPTIONS="{CAPTIONS_GROUP}"')
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attrs), mux.playlist]
    with open(os.path.join(workdir, manifest["fileName"]), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ DASH MPD


def _iso_duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _timeline(parent: ET.Element, segments: list[Segment], timescale: int) -> None:
    timeline = ET.SubElement(parent, "SegmentTimeline")
    last = None
    for segment in segments:
        d = round(segment.duration * timescale)
        if last is not None and last.get("d") == str(d):
            last.set("r", str(int(last.get("r", "0")) + 1))
        else:
            attrs = {"d": str(d)}
            if last is None:
                attrs = {"t": "0", **attrs}
            last = ET.SubElement(timeline, "S", attrs)


def write_dash_mpd(workdir: str, manifest: dict, muxes: dict[str, PlannedMux],
                   playlists: dict[str, MediaPlaylist], codecs: dict[str, str],
                   protection: dict | None = None) -> None:
    members = [muxes[name] for name in manifest["muxStreams"]]
    scheme = (manifest.get("dash") or {}).get("segmentReferenceScheme", "SEGMENT_LIST")
    total = max(playlists[m.key].duration for m in members if not m.text)
    profile = ("urn:mpeg:dash:profile:isoff-live:2011" if scheme == "SEGMENT_TEMPLATE_NUMBER"
               and all(m.individual_segments for m in members) else "urn:mpeg:dash:profile:isoff-main:2011")
    mpd = ET.Element("MPD", {"xmlns": "urn:mpeg:dash:schema:mpd:2011", "profiles": profile, "type": "static",
                             "mediaPresentationDuration": _iso_duration(total),
                             "minBufferTime": _iso_duration(min(m.segment_seconds for m in members if not m.text))})
    period = ET.SubElement(mpd, "Period", {"id": "0", "start": "PT0S", "duration": _iso_duration(total)})
    timescale = 1000
    for kind, group in (("video", [m for m in members if m.video]), ("audio", [m for m in members if m.audio])):
        if not group:
            continue
        attrs = {"id": str(len(period)), "contentType": kind, "mimeType": f"{kind}/mp4", "segmentAlignment": "true",
                 "startWithSAP": "1"}
        if kind == "video":
            attrs.update(maxWidth=str(max(m.video.width for m in group)),
                         maxHeight=str(max(m.video.height for m in group)), par=_par(group[0]))
        adaptation = ET.SubElement(period, "AdaptationSet", attrs)
        for mux in group:
            playlist = playlists[mux.key]
            peak, _ = playlist.bandwidths()
            rep_attrs = {"id": mux.key, "bandwidth": str(peak)}
            if kind == "video":
                rep_attrs.update(codecs=codecs[mux.key], width=str(mux.video.width), height=str(mux.video.height),
                                 frameRate=f"{mux.video.fps.numerator}/{mux.video.fps.denominator}"
                                 if mux.video.fps.denominator != 1 else str(mux.video.fps.numerator), sar="1:1")
            else:
                rep_attrs.update(codecs=AUDIO_CODEC_STRINGS[mux.audio.codec],
                                 audioSamplingRate=str(mux.audio.sample_rate))
            rep = ET.SubElement(adaptation, "Representation", rep_attrs)
            if kind == "audio":
                ET.SubElement(rep, "AudioChannelConfiguration", {
                    "schemeIdUri": "urn:mpeg:dash:23003:3:audio_channel_configuration:2011",
                    "value": str(mux.audio.channels)})
            _content_protection(mpd, rep, (protection or {}).get(mux.key))
            for tag, scheme_id, value in hdr.dash_properties(mux.video.color_format) if kind == "video" else []:
                ET.SubElement(rep, tag, {"schemeIdUri": scheme_id, "value": value})
            _segment_reference(rep, mux, playlist, scheme, timescale)
    for mux in (m for m in members if m.text):
        _text_adaptation(period, mux, playlists[mux.key], scheme, timescale)
    ET.indent(mpd)
    data = ET.tostring(mpd, encoding="unicode", xml_declaration=False)
    with open(os.path.join(workdir, manifest["fileName"]), "w", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0" encoding="UTF-8"?>\n' + data + "\n")


def _text_adaptation(period: ET.Element, mux: PlannedMux, playlist: MediaPlaylist, scheme: str,
                     timescale: int) -> None:
    """One text AdaptationSet per vtt mux stream (per language): WebVTT segments, role subtitle."""
    attrs = {"id": str(len(period)), "contentType": "text", "mimeType": "text/vtt"}
    if mux.text.language:
        attrs["lang"] = mux.text.language
    adaptation = ET.SubElement(period, "AdaptationSet", attrs)
    ET.SubElement(adaptation, "Role", {"schemeIdUri": "urn:mpeg:dash:role:2011", "value": "subtitle"})
    if mux.text.name:
        ET.SubElement(adaptation, "Label").text = mux.text.name
    peak, _ = playlist.bandwidths()
    rep = ET.SubElement(adaptation, "Representation", {"id": mux.key, "bandwidth": str(max(1, peak))})
    if scheme == "SEGMENT_TEMPLATE_NUMBER" and mux.individual_segments:
        template = ET.SubElement(rep, "SegmentTemplate", {"timescale": str(timescale),
                                                          "media": f"{mux.stem}$Number%010d$.vtt", "startNumber": "0"})
        _timeline(template, playlist.segments, timescale)
        return
    seg_list = ET.SubElement(rep, "SegmentList", {"timescale": str(timescale)})
    _timeline(seg_list, playlist.segments, timescale)
    for segment in playlist.segments:
        ET.SubElement(seg_list, "SegmentURL", {"media": segment.uri})


def _content_protection(mpd: ET.Element, rep: ET.Element, protected) -> None:
    """ContentProtection elements of an encrypted Representation (encryption.Protection says which), before its
    segment reference as the MPD schema orders them."""
    if protected is None:
        return
    mpd.set("xmlns:cenc", "urn:mpeg:cenc:2013")
    for tag, attrs, pssh in protected.dash_elements():
        element = ET.SubElement(rep, tag, attrs)
        if pssh:
            ET.SubElement(element, "cenc:pssh").text = pssh


def _par(mux: PlannedMux) -> str:
    g = math.gcd(mux.video.width, mux.video.height)
    return f"{mux.video.width // g}:{mux.video.height // g}"


def _segment_reference(rep: ET.Element, mux: PlannedMux, playlist: MediaPlaylist, scheme: str,
                       timescale: int) -> None:
    if scheme == "SEGMENT_TEMPLATE_NUMBER" and mux.individual_segments:
        template = ET.SubElement(rep, "SegmentTemplate", {
            "timescale": str(timescale), "initialization": playlist.init_uri or mux.init_name,
            "media": f"{mux.stem}$Number%010d$.m4s", "startNumber": "0"})
        _timeline(template, playlist.segments, timescale)
        return
    seg_list = ET.SubElement(rep, "SegmentList", {"timescale": str(timescale)})
    init = {"sourceURL": playlist.init_uri or mux.init_name}
    if playlist.init_range:
        length, offset = playlist.init_range
        init["range"] = f"{offset}-{offset + length - 1}"
    ET.SubElement(seg_list, "Initialization", init)
    _timeline(seg_list, playlist.segments, timescale)
    for segment in playlist.segments:
        attrs = {"media": segment.uri}
        if segment.offset is not None:
            attrs["mediaRange"] = f"{segment.offset}-{segment.offset + segment.length - 1}"
        ET.SubElement(seg_list, "SegmentURL", attrs)


# ------------------------------------------------------------------------------------------------ entry point


def write_manifests(workdir: str, planned: list[PlannedMux], manifests: list[dict], protect=None) -> None:
    """Write every manifest; drop the media playlists that no HLS manifest references.

    ``protect`` (encryption.protect bound to the job) encrypts the segments once the codec strings are read from the
    clear ones, and returns the encryption.Protection of each encrypted mux stream for the manifests to signal."""
    muxes = {m.key: m for m in planned}
    playlists = {m.key: parse_media_playlist(workdir, m.playlist) for m in planned if m.segmented}
    codecs = {key: video_codec_string(workdir, muxes[key], pl) for key, pl in playlists.items() if muxes[key].video}
    protection = protect() if protect is not None else {}
    if protection:  # sizes and byte ranges changed
        playlists = {m.key: parse_media_playlist(workdir, m.playlist) for m in planned if m.segmented}
    for manifest in manifests:
        if manifest["type"] == "HLS":
            write_hls_master(workdir, manifest, muxes, playlists, codecs)
        else:
            write_dash_mpd(workdir, manifest, muxes, playlists, codecs, protection)
    in_hls = {name for man in manifests if man["type"] == "HLS" for name in man["muxStreams"]}
    for mux in planned:
        if mux.segmented and mux.key not in in_hls:
            os.remove(os.path.join(workdir, mux.playlist))
