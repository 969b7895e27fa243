"""HLS master playlists and DASH MPDs for the Manifest entries of a job, written from what ffmpeg produced.

ffmpeg's ``hls`` muxer writes one media playlist per segmented mux stream (``<key>.m3u8``, with byte ranges when
``individualSegments`` is false); captions.py writes those of vtt mux streams. An HLS master lists each vtt mux stream
as ``EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs"`` (NAME = displayName, LANGUAGE = languageCode) with
``SUBTITLES="subs"`` on every variant, and embedded cea608/708 captions as ``TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",
INSTREAM-ID="CC1"``; a DASH MPD gets a ``text/vtt`` AdaptationSet per vtt mux stream. From those playlists and the
segment bytes this module derives durations, bandwidths and RFC 6381 codec strings, and writes the manifests named
in the config.
"""

from __future__ import annotations

import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .ffmpeg_plan import AUDIO_CODEC_STRINGS, PlannedMux


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
    """avc1.PPCCLL from the avcC box (fMP4) or the first SPS NAL unit (TS)."""
    profile_defaults = {"baseline": "avc1.42c01e", "main": "avc1.4d401f", "high": "avc1.640028"}
    fallback = profile_defaults.get(mux.video.h264.get("profile", "high"), "avc1.640028") if mux.video else ""
    try:
        if mux.container == "fmp4" and playlist.init_uri:
            offset, length = (playlist.init_range[1], playlist.init_range[0]) if playlist.init_range else (0, 1 << 16)
            data = _read(workdir, playlist.init_uri, offset, length)
            at = data.find(b"avcC")
            if at >= 0 and len(data) >= at + 8:
                return "avc1." + data[at + 5: at + 8].hex()
        elif playlist.segments:
            first = playlist.segments[0]
            data = _read(workdir, first.uri, first.offset or 0, min(first.length, 1 << 16))
            at = 0
            while True:
                at = data.find(b"\x00\x00\x01", at)
                if at < 0 or at + 7 > len(data):
                    break
                if data[at + 3] & 0x1F == 7:
                    return "avc1." + data[at + 4: at + 7].hex()
                at += 3
    except OSError:
        pass
    return fallback


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
