"""What a finished job left in the media bucket, and the URLs clients get for it.

Layout under ``videos/<videoId>/`` (the job's output URI), as the Transcoder API names it for the config of
:mod:`kstream.transcode.ladder`: ``manifest.m3u8`` (HLS master), ``manifest.mpd`` (DASH), one media playlist per
mux stream (``video-360p.m3u8``, ``audio.m3u8``), fMP4 segments ``<muxKey><10-digit index>.m4s`` (init segments
``<muxKey>-init.m4s`` locally), ``progressive.mp4``, and sprite sheets ``poster0000000000.jpeg`` and
``storyboard<index>.jpeg``.

:func:`collect` lists the prefix once and keeps only the files of this job's mux streams (a re-transcode into the
same folder may leave another job's renditions behind). :func:`public_url` builds what clients fetch: the CDN base
URL (``KSTREAM_CDN_BASE_URL``) + the object path; unsigned, because the stream endpoint signs access.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from contracts.transcode import DashFiles, HlsFiles, OutputFiles

from .ladder import (
    AUDIO_MUX_KEY,
    DASH_MANIFEST,
    HLS_MANIFEST,
    LADDER,
    POSTER_PREFIX,
    PROGRESSIVE_FILE,
    STORYBOARD_PREFIX,
    VIDEO_MUX_PREFIX,
)

__all__ = ["Outputs", "OutputsIncomplete", "collect", "output_files", "public_url", "qualities_for"]

SEGMENT_EXTENSIONS = (".m4s", ".ts")
IMAGE_EXTENSIONS = (".jpeg", ".jpg")


class OutputsIncomplete(ValueError):
    """The job reported success but a file it must have written is missing."""


@dataclass(frozen=True)
class Outputs:
    prefix: str  # "videos/<videoId>/"
    hls_playlist: str | None = None  # names relative to the prefix
    dash_manifest: str | None = None
    media_playlists: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    init_segments: list[str] = field(default_factory=list)
    poster: str | None = None
    storyboard: list[str] = field(default_factory=list)
    progressive: str | None = None
    bytes: int = 0

    @property
    def thumbnail(self) -> str | None:
        """The image that stands for the video: the poster, else the first storyboard sheet."""
        return self.poster or (self.storyboard[0] if self.storyboard else None)

    def to_doc(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix, "hlsPlaylist": self.hls_playlist, "dashManifest": self.dash_manifest,
            "mediaPlaylists": self.media_playlists, "segments": self.segments, "initSegments": self.init_segments,
            "poster": self.poster, "storyboard": self.storyboard, "progressive": self.progressive,
            "bytes": self.bytes,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Outputs:
        return cls(
            prefix=str(doc.get("prefix") or ""), hls_playlist=doc.get("hlsPlaylist"),
            dash_manifest=doc.get("dashManifest"), media_playlists=list(doc.get("mediaPlaylists") or []),
            segments=list(doc.get("segments") or []), init_segments=list(doc.get("initSegments") or []),
            poster=doc.get("poster"), storyboard=list(doc.get("storyboard") or []),
            progressive=doc.get("progressive"), bytes=int(doc.get("bytes") or 0),
        )


def mux_keys(renditions: Sequence[str], has_audio: bool) -> list[str]:
    return [VIDEO_MUX_PREFIX + name for name in renditions] + ([AUDIO_MUX_KEY] if has_audio else [])


def collect(names_and_sizes: Iterable[tuple[str, int]], *, prefix: str, renditions: Sequence[str],
            has_audio: bool, formats: Iterable[str]) -> Outputs:
    """Classify the objects under ``prefix`` (full names with sizes); OutputsIncomplete when a manifest or a
    stream's segments are missing (what players need). Sprite sheets are not required: without a poster the
    first storyboard sheet stands in as the thumbnail."""
    keys = mux_keys(renditions, has_audio)
    key_group = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    segment_re = re.compile(rf"^({key_group})(\d+)\.(m4s|ts)$")
    init_re = re.compile(rf"^({key_group})[-_]?init\.m4s$")
    playlist_re = re.compile(rf"^({key_group})\.m3u8$")
    found: dict[str, int] = {}
    for name, size in names_and_sizes:
        if name.startswith(prefix):
            found[name[len(prefix):]] = size
    segments = sorted(n for n in found if segment_re.match(n))
    inits = sorted(n for n in found if init_re.match(n))
    playlists = sorted(n for n in found if playlist_re.match(n))
    posters = sorted(n for n in found if n.startswith(POSTER_PREFIX) and n.lower().endswith(IMAGE_EXTENSIONS))
    boards = sorted(n for n in found if n.startswith(STORYBOARD_PREFIX) and n.lower().endswith(IMAGE_EXTENSIONS))
    wanted = {f.lower() for f in formats}
    outputs = Outputs(
        prefix=prefix,
        hls_playlist=HLS_MANIFEST if HLS_MANIFEST in found else None,
        dash_manifest=DASH_MANIFEST if DASH_MANIFEST in found else None,
        media_playlists=playlists,
        segments=segments,
        init_segments=inits,
        poster=posters[0] if posters else None,
        storyboard=boards,
        progressive=PROGRESSIVE_FILE if PROGRESSIVE_FILE in found else None,
        bytes=sum(found[n] for n in {*segments, *inits, *playlists, *posters, *boards,
                                     HLS_MANIFEST, DASH_MANIFEST, PROGRESSIVE_FILE} if n in found),
    )
    missing = []
    if "hls" in wanted and outputs.hls_playlist is None:
        missing.append(HLS_MANIFEST)
    if "dash" in wanted and outputs.dash_manifest is None:
        missing.append(DASH_MANIFEST)
    for key in keys:
        if not any(segment_re.match(s).group(1) == key for s in segments):  # type: ignore[union-attr]
            missing.append(f"{key} segments")
    if missing:
        raise OutputsIncomplete(f"the job reported success but {', '.join(missing)} "
                                f"{'is' if len(missing) == 1 else 'are'} missing under {prefix}")
    return outputs


def public_url(cdn_base_url: str, prefix: str, name: str) -> str:
    """The URL clients use for ``prefix + name`` (a path from the site root when no CDN base URL is set)."""
    return f"{cdn_base_url.rstrip('/')}/{prefix}{name}"


def output_files(outputs: Outputs, cdn_base_url: str) -> OutputFiles:
    """The spec's ``outputFiles`` (HLS playlist + segments, DASH manifest + segments) for a finished job."""

    def url(name: str) -> str:
        return public_url(cdn_base_url, outputs.prefix, name)

    segments = [url(n) for n in outputs.segments]
    hls_playlist = outputs.hls_playlist or outputs.dash_manifest or ""
    return OutputFiles(
        hls=HlsFiles(playlist=url(hls_playlist), segments=segments if outputs.hls_playlist else []),
        dash=DashFiles(manifest=url(outputs.dash_manifest), segments=segments) if outputs.dash_manifest else None,
    )


def qualities_for(renditions: Iterable[str]) -> list[str]:
    """The spec's quality names (360p / 720p / 1080p) a job's renditions serve, lowest first.

    A rendition of the ladder keeps its name. A source-size rendition ("540p", "180p", ...) counts as the highest
    rung it reaches, and a source below 360p as 360p (the lowest tier), so the list only holds names clients may
    ask the stream endpoint for.
    """
    tiers = sorted(LADDER.values(), key=lambda rung: rung.short_side)
    out: list[str] = []
    for name in renditions:
        match = re.fullmatch(r"(\d+)p", name)
        if name in LADDER:
            tier = name
        elif match:
            short = int(match.group(1))
            reached = [rung.name for rung in tiers if rung.short_side <= short]
            tier = reached[-1] if reached else tiers[0].name
        else:
            continue
        if tier not in out:
            out.append(tier)
    return sorted(out, key=lambda q: LADDER[q].short_side)
