"""Rewrite stored HLS playlists and DASH MPDs so that every URI in them is absolute and signed.

Pure text in, text out: no I/O, no clock, no keys. ``sign(url)`` is given by the caller (see
:mod:`kstream.streaming.access`); it appends the Cloud CDN signed-prefix query to a URL under the video's prefix
and leaves any other URL alone.

HLS (RFC 8216): every URI line and every ``URI="..."`` attribute of an ``#EXT`` tag (``EXT-X-MEDIA``,
``EXT-X-MAP``, ``EXT-X-I-FRAME-STREAM-INF``, ``EXT-X-KEY``, ...) is resolved against the playlist's own URL
(RFC 3986 section 5) and signed. DASH (ISO/IEC 23009-1): ``BaseURL`` elements are folded into the URLs they
prefix, and the URL attributes of ``SegmentTemplate`` (``media``, ``initialization``, ``index``),
``Initialization``/``RepresentationIndex``/``BitstreamSwitching`` (``sourceURL``) and ``SegmentURL`` (``media``,
``index``) become absolute and signed. A template keeps its ``$Number$``-style identifiers; the signed query holds
no ``$``, so players substitute them as before.

Renditions are named as the ladder names them ("360p", "720p", "1080p"): from the media playlist's or
representation's name (``video-720p.m3u8``, ``id="video-720p"``) when it ends in ``<digits>p``, else from the short
side of its resolution.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

__all__ = [
    "DASH_NS",
    "HlsVariant",
    "ManifestError",
    "RenditionMissing",
    "SubtitleRendition",
    "hls_variant_for",
    "hls_variants",
    "keep_hls_variant",
    "object_under",
    "rendition_name",
    "rewrite_hls",
    "rewrite_mpd",
    "with_dash_subtitles",
    "with_hls_subtitles",
]

Signer = Callable[[str], str]

DASH_NS = "urn:mpeg:dash:schema:mpd:2011"
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Larger stored manifests are refused (a two-hour episode's MPD or media playlist is well under 200 KB)."""

_URI_ATTRIBUTE = re.compile(r'(?<=[:,])URI="([^"]*)"')
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')
_NAMED_RENDITION = re.compile(r"(?:^|[-_.])(\d{3,4}p)$")
_RESOLUTION = re.compile(r"^(\d{1,5})x(\d{1,5})$")
_DASH_URL_ATTRIBUTES = {
    "SegmentTemplate": ("media", "initialization", "index"),
    "Initialization": ("sourceURL",),
    "RepresentationIndex": ("sourceURL",),
    "BitstreamSwitching": ("sourceURL",),
    "SegmentURL": ("media", "index"),
}


class ManifestError(ValueError):
    """A stored manifest that is not what the pipeline writes (not a playlist, not an MPD, too large)."""


class RenditionMissing(LookupError):
    """The manifest has no rendition of the requested quality."""

    def __init__(self, quality: str, available: list[str]) -> None:
        super().__init__(f"no {quality} rendition; the manifest has {', '.join(available) or 'none'}")
        self.quality = quality
        self.available = available


def rendition_name(name: str | None, width: int | None = None, height: int | None = None) -> str | None:
    """The ladder's name of a rendition: from ``name`` (``video-720p.m3u8``, ``video-720p``) when it ends in
    ``<digits>p``, else ``<short side>p`` from the resolution, else None."""
    if name:
        stem = name.rsplit("/", 1)[-1].split("?", 1)[0]
        stem = stem.rsplit(".", 1)[0] if stem.endswith((".m3u8", ".m3u")) else stem
        found = _NAMED_RENDITION.search(stem)
        if found:
            return found.group(1)
    if width and height:
        return f"{min(width, height)}p"
    return None


def _check_size(text: str) -> None:
    if len(text) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {len(text)} characters; at most {MAX_MANIFEST_BYTES} are served")


# ---------------------------------------------------------------------------------------------------------- HLS


@dataclass(frozen=True)
class HlsVariant:
    """One ``EXT-X-STREAM-INF`` entry of a master playlist."""

    uri: str  # as written (usually relative)
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def resolution(self) -> tuple[int, int] | None:
        found = _RESOLUTION.match(self.attributes.get("RESOLUTION", ""))
        return (int(found.group(1)), int(found.group(2))) if found else None

    @property
    def rendition(self) -> str | None:
        width, height = self.resolution or (None, None)
        return rendition_name(self.uri, width, height)


def _lines(text: str) -> list[str]:
    _check_size(text)
    text = text.removeprefix("\ufeff")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise ManifestError("not an HLS playlist: the first line is not #EXTM3U")
    return lines


def _attributes(text: str) -> dict[str, str]:
    return {key: value.strip('"') for key, value in _ATTRIBUTE.findall(text)}


def hls_variants(text: str) -> list[HlsVariant]:
    """The variant streams of a master playlist, in playlist order (none for a media playlist)."""
    variants: list[HlsVariant] = []
    pending: dict[str, str] | None = None
    for raw in _lines(text)[1:]:
        line = raw.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = _attributes(line[len("#EXT-X-STREAM-INF:"):])
        elif line and not line.startswith("#") and pending is not None:
            variants.append(HlsVariant(line, pending))
            pending = None
    return variants


def rewrite_hls(text: str, playlist_url: str, sign: Signer) -> str:
    """The playlist with every URI absolute (resolved against ``playlist_url``) and passed through ``sign``."""

    def absolute(uri: str) -> str:
        return sign(urljoin(playlist_url, uri.strip()))

    out: list[str] = []
    for raw in _lines(text):
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            if line.lstrip().startswith("#EXT"):
                line = _URI_ATTRIBUTE.sub(lambda m: f'URI="{absolute(m.group(1))}"', line)
            out.append(line)
        else:
            out.append(absolute(line))
    return "\n".join(out) + "\n"


def hls_variant_for(text: str, quality: str) -> HlsVariant:
    """The master playlist's variant of ``quality``; RenditionMissing when there is none."""
    variants = hls_variants(text)
    for variant in variants:
        if variant.rendition == quality:
            return variant
    raise RenditionMissing(quality, [v.rendition for v in variants if v.rendition])


def keep_hls_variant(text: str, quality: str) -> str:
    """The master playlist with only the variant (and I-frame playlist) of ``quality``; renditions (audio,
    subtitles) and every other tag kept, so a one-quality answer still plays with sound. RenditionMissing when the
    master has no such variant."""
    hls_variant_for(text, quality)  # RenditionMissing when absent
    out: list[str] = []
    for raw in _lines(text):
        line = raw.rstrip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            out.append(line)
            continue
        if line.startswith("#EXT-X-I-FRAME-STREAM-INF:"):
            attributes = _attributes(line[len("#EXT-X-I-FRAME-STREAM-INF:"):])
            size = _RESOLUTION.match(attributes.get("RESOLUTION", ""))
            name = rendition_name(attributes.get("URI"), *(int(v) for v in size.groups()) if size else (None, None))
            if name != quality:
                continue
        elif line.strip() and not line.startswith("#") and out and out[-1].startswith("#EXT-X-STREAM-INF:"):
            variant = HlsVariant(line.strip(), _attributes(out[-1][len("#EXT-X-STREAM-INF:"):]))
            if variant.rendition != quality:
                out.pop()  # its EXT-X-STREAM-INF
                continue
        out.append(line)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class SubtitleRendition:
    """A ready subtitle track as the manifests list it; paths relative to the video's folder (the master's)."""

    language: str
    label: str
    kind: str  # subtitles | captions
    default: bool
    playlist: str  # HLS media playlist
    vtt: str  # the whole track, for DASH


SUBTITLE_GROUP = "subs"
_CAPTION_CHARACTERISTICS = ("public.accessibility.transcribes-spoken-dialog,"
                            "public.accessibility.describes-music-and-sound")
_SUBTITLES_ATTRIBUTE = re.compile(r',SUBTITLES="[^"]*"|SUBTITLES="[^"]*",?')


def with_hls_subtitles(text: str, renditions: list[SubtitleRendition]) -> str:
    """The master playlist with exactly ``renditions`` as its subtitle group: subtitle ``EXT-X-MEDIA`` entries the
    stored master has (a Transcoder job writes its own) are replaced, every variant names the group, or none when
    there is no rendition. The catalogue's track list is the truth: a deleted track disappears, a replaced one
    points at its new version."""
    lines = _lines(text)
    out: list[str] = []
    media = [
        f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="{SUBTITLE_GROUP}",NAME="{r.label}",LANGUAGE="{r.language}",'
        f'DEFAULT={"YES" if r.default else "NO"},AUTOSELECT=YES,FORCED=NO'
        + (f',CHARACTERISTICS="{_CAPTION_CHARACTERISTICS}"' if r.kind == "captions" else "")
        + f',URI="{r.playlist}"'
        for r in renditions
    ]
    for raw in lines:
        line = raw.rstrip()
        if line.startswith("#EXT-X-MEDIA:") and "TYPE=SUBTITLES" in line:
            continue
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = _SUBTITLES_ATTRIBUTE.sub("", line[len("#EXT-X-STREAM-INF:"):]).rstrip(",")
            if renditions:
                attributes += f',SUBTITLES="{SUBTITLE_GROUP}"'
            if media:
                out.extend(media)
                media = []
            line = "#EXT-X-STREAM-INF:" + attributes
        out.append(line)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------------------- DASH


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str | None:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else None


def _parse_mpd(text: str) -> tuple[ET.Element, dict[str, str]]:
    _check_size(text)
    head = text[:4096]
    if "<!DOCTYPE" in head or "<!ENTITY" in text:
        raise ManifestError("MPD declares a DOCTYPE or entities; refused")
    prefixes: dict[str, str] = {}
    try:
        for _event, (prefix, uri) in ET.iterparse(io.StringIO(text), events=("start-ns",)):  # noqa: S314
            prefixes.setdefault(prefix, uri)
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise ManifestError(f"not an MPD: {exc}") from None
    if _local(root.tag) != "MPD":
        raise ManifestError(f"not an MPD: the root element is <{_local(root.tag)}>")
    return root, prefixes


def _is_video(adaptation: ET.Element) -> bool:
    kinds = [adaptation.get("contentType", ""), adaptation.get("mimeType", "")]
    kinds += [rep.get("mimeType", "") for rep in adaptation if _local(rep.tag) == "Representation"]
    return any(kind == "video" or kind.startswith("video/") for kind in kinds)


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _keep_quality(root: ET.Element, quality: str) -> None:
    found: list[str] = []
    kept = 0
    for period in (child for child in root if _local(child.tag) == "Period"):
        for adaptation in [a for a in period if _local(a.tag) == "AdaptationSet"]:
            if not _is_video(adaptation):
                continue
            for rep in [r for r in adaptation if _local(r.tag) == "Representation"]:
                width = _int(rep.get("width") or adaptation.get("width"))
                height = _int(rep.get("height") or adaptation.get("height"))
                name = rendition_name(rep.get("id"), width, height)
                if name == quality:
                    kept += 1
                    continue
                if name:
                    found.append(name)
                adaptation.remove(rep)
            if not any(_local(r.tag) == "Representation" for r in adaptation):
                period.remove(adaptation)
    if not kept:
        raise RenditionMissing(quality, list(dict.fromkeys(found)))


def _absolutize(element: ET.Element, base: str, sign: Signer) -> None:
    base_urls = [child for child in element if _local(child.tag) == "BaseURL"]
    if base_urls:
        first, *alternatives = base_urls
        for alternative in alternatives:  # one CDN serves the video: alternative locations are dropped
            element.remove(alternative)
        target = urljoin(base, (first.text or "").strip())
        if target.endswith("/"):
            element.remove(first)  # a directory: folded into the URLs below
        else:
            first.text = sign(target)  # a whole file (SegmentBase): the player fetches this URL itself
        base = target
    for name in _DASH_URL_ATTRIBUTES.get(_local(element.tag), ()):
        value = element.get(name)
        if value:
            element.set(name, sign(urljoin(base, value.strip())))
    for child in element:
        _absolutize(child, base, sign)


def rewrite_mpd(text: str, mpd_url: str, sign: Signer, quality: str | None = None) -> str:
    """The MPD with every segment URL absolute and signed; with ``quality`` only that video representation is
    kept (audio and other content untouched). RenditionMissing when ``quality`` is not in it."""
    root, prefixes = _parse_mpd(text)
    if quality is not None:
        _keep_quality(root, quality)
    _absolutize(root, mpd_url, sign)
    return _serialize(root, prefixes)


def _serialize(root: ET.Element, prefixes: dict[str, str]) -> str:
    for prefix, uri in prefixes.items():
        if prefix and not re.fullmatch(r"ns\d+", prefix):
            ET.register_namespace(prefix, uri)
    if _namespace(root.tag) == DASH_NS:
        ET.register_namespace("", DASH_NS)  # players expect the MPD namespace as the default, not as ns0:
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def with_dash_subtitles(text: str, renditions: list[SubtitleRendition]) -> str:
    """The MPD with one text AdaptationSet (WebVTT, the whole track as one file) per rendition in each Period,
    replacing any text AdaptationSets it had; URLs stay relative (``rewrite_mpd`` signs them)."""
    root, prefixes = _parse_mpd(text)
    ns = _namespace(root.tag)

    def tag(name: str) -> str:
        return f"{{{ns}}}{name}" if ns else name

    for period in (child for child in root if _local(child.tag) == "Period"):
        for adaptation in [a for a in period if _local(a.tag) == "AdaptationSet"]:
            kinds = (adaptation.get("contentType", ""), adaptation.get("mimeType", ""))
            if "text" in kinds or any(k.startswith(("text/", "application/ttml")) for k in kinds):
                period.remove(adaptation)
        for index, rendition in enumerate(renditions):
            adaptation = ET.SubElement(period, tag("AdaptationSet"), {
                "id": f"subtitles-{index}", "contentType": "text", "mimeType": "text/vtt",
                "lang": rendition.language})
            ET.SubElement(adaptation, tag("Role"), {"schemeIdUri": "urn:mpeg:dash:role:2011",
                                                     "value": "caption" if rendition.kind == "captions" else
                                                     "subtitle"})
            if rendition.default:
                ET.SubElement(adaptation, tag("Role"), {"schemeIdUri": "urn:mpeg:dash:role:2011", "value": "main"})
            ET.SubElement(adaptation, tag("Label")).text = rendition.label
            representation = ET.SubElement(adaptation, tag("Representation"), {
                "id": f"subtitles-{rendition.language}", "bandwidth": "256"})
            ET.SubElement(representation, tag("BaseURL")).text = rendition.vtt
    return _serialize(root, prefixes)


def object_under(prefix_url: str, url: str) -> str | None:
    """The part of ``url`` after ``prefix_url`` (no query), when ``url`` lies under it; else None."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith(prefix_url):
        return None
    rest = path[len(prefix_url):]
    if not rest or any(part in ("", ".", "..") for part in rest.split("/")):
        return None
    return rest if urlsplit(path).scheme in ("http", "https") else None
