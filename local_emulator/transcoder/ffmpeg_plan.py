"""A normalised JobConfig + the probed source -> ONE ffmpeg command for the whole job.

The edit atom's media input is input 0; its preprocessingConfig filters run once before the split; audio streams
with a ``mapping`` get a ``pan`` (after ``amerge`` when channels come from several inputs or tracks, which are then
further ``-i`` of the same command). Text streams never reach ffmpeg: ``vtt`` mux streams are written from cues by
captions.py, and an embedded cea608/708 stream makes the command encode into a NUT file first (``ENCODED``);
cea608.py adds the caption SEI and ``Plan.package_argv`` copies the streams into the mux streams.

The source is decoded once. One filter graph splits the decoded video into one branch per video elementary stream
(fps + scale) and one per sprite sheet (fps + scale). Each elementary stream is encoded once; a single ``tee``
output fans the encoded packets out to every mux stream that names them (mp4 file, or an ``hls`` muxer writing the
TS / fMP4 segments and the media playlist). The sprites are small PNG outputs of the same command; a tiny second
ffmpeg (``PlannedSprite.tile_argv``, reading only those thumbnails) lays them out into the JPEG sheets. Tiling inside
the main command would hold that output back until a sheet is full, and ffmpeg then reports no progress at all.

Timeline: an untrimmed atom (no start or end offset) keeps the source's own timestamps (``-copyts -start_at_zero``,
0 = the input's earliest stream, moved later by the audio encoder's priming), so the output's audio/video start
offset is the source's; see ``_encoder_delay``. A trimmed atom (``-ss`` and/or ``-to``) starts every stream at the
cut: video at 0, the audio's priming at 0 (its first input sample one AAC frame later), whether it is cut at the
start, the end or both, so time ranges of one source line up with their video the same way (premiere parts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction

from . import hdr
from .captions import Cue, trim
from .config import container_extension, gop_seconds, parse_duration
from .errors import ApiError
from .jobconfig.common import EMBEDDED_TEXT_CODECS
from .jobconfig.elementary import video_codec
from .jobconfig.overlays import Phase, overlay_timeline
from .jobconfig.preprocessing import audio_filters, cropped_size, doubles_frame_rate, video_filters
from .probe import SourceInfo

AUDIO_ENCODERS = {"aac": "aac", "aac-he": "aac", "aac-he-v2": "aac", "ac3": "ac3", "eac3": "eac3",
                  "mp3": "libmp3lame", "vorbis": "libvorbis"}
AUDIO_TAGS = {"aac": "mp4a", "aac-he": "mp4a", "aac-he-v2": "mp4a", "ac3": "ac-3", "eac3": "ec-3", "mp3": "mp4a"}
# RFC 6381 / HLS CODECS values (MP3 in ISO BMFF: mp4a.40.34, as Apple's HLS authoring spec writes it)
AUDIO_CODEC_STRINGS = {"aac": "mp4a.40.2", "aac-he": "mp4a.40.2", "aac-he-v2": "mp4a.40.2", "ac3": "ac-3",
                       "eac3": "ec-3", "mp3": "mp4a.40.34", "vorbis": "vorbis"}
VIDEO_ENCODERS = {"h264": "libx264", "h265": "libx265", "vp9": "libvpx-vp9"}


@dataclass
class VideoRung:
    key: str
    index: int  # v:<index> in the tee output
    width: int
    height: int
    fps: Fraction
    gop_frames: int
    gop_seconds: float
    settings: dict  # the normalised H264/H265/Vp9CodecSettings
    codec: str = "h264"
    tag: str = ""  # ISO BMFF sample entry for mp4/fmp4 outputs (h265: hvc1 or hev1)
    overlays: list = field(default_factory=list)  # PlannedOverlay drawn on this rendition
    captions: PlannedText | None = None  # embedded cea608/708 captions this video carries
    color_format: str = ""  # hlg / hdr10 when written as HDR (hdr.output_format), "" SDR: what manifests signal


@dataclass
class AudioTrack:
    key: str
    index: int  # a:<index> in the tee output
    codec: str
    bitrate: int
    channels: int
    sample_rate: int
    mapping: list[dict] = field(default_factory=list)  # AudioStream.mapping (-> pan)
    layout: list[str] = field(default_factory=list)  # AudioStream.channelLayout


@dataclass
class PlannedText:
    key: str  # the text elementary stream
    codec: str
    language: str
    name: str
    cues: list[Cue]  # on the output timeline


@dataclass
class MediaInput:
    key: str
    path: str
    info: SourceInfo
    preprocessing: dict = field(default_factory=dict)


@dataclass
class PlannedMux:
    key: str
    file_name: str
    container: str
    video: VideoRung | None
    audio: AudioTrack | None
    segment_seconds: float = 0.0
    individual_segments: bool = False
    text: PlannedText | None = None  # a vtt mux stream's WebVTT (written by captions.py, not ffmpeg)

    @property
    def segmented(self) -> bool:
        return self.container in ("ts", "fmp4", "vtt")

    @property
    def playlist(self) -> str:
        """The HLS media playlist ffmpeg writes for a segmented mux stream (named after the key, as Google does)."""
        return self.key + ".m3u8"

    @property
    def stem(self) -> str:
        ext = container_extension(self.container)
        return self.file_name[: -len(ext)] if self.file_name.endswith(ext) else self.file_name.rsplit(".", 1)[0]

    @property
    def init_name(self) -> str:
        return self.file_name if not self.individual_segments else f"{self.stem}-init.m4s"


@dataclass
class PlannedSprite:
    prefix: str
    columns: int
    rows: int
    count: int
    width: int
    height: int
    frames_dir: str = ""  # relative to the output folder (outside it: never uploaded)
    tile_argv: list[str] = field(default_factory=list)


@dataclass
class Plan:
    argv: list[str]
    muxes: list[PlannedMux]
    manifests: list[dict]
    sprites: list[PlannedSprite]
    output_duration: float
    notes: list[str] = field(default_factory=list)
    expected_frames: int = 0  # frames of the first video rung: ffmpeg's progress "frame=" counts that stream
    embedded: PlannedText | None = None  # cea608/708 captions: argv writes ENCODED, then SEI, then package_argv
    package_argv: list[str] = field(default_factory=list)
    first_pass_argv: list[str] = field(default_factory=list)  # enableTwoPass: pass 1, run before argv (pass 2)


class MissingAudio(ApiError):
    pass


ENCODED = "../encoded.nut"  # relative to the output folder: never uploaded
CAPTIONED = "../captioned.nut"
FFMPEG_PIXEL_FORMATS = {"yuv420p": "yuv420p", "yuv422p": "yuv422p", "yuv444p": "yuv444p",
                        "yuv420p10": "yuv420p10le", "yuv422p10": "yuv422p10le", "yuv444p10": "yuv444p10le",
                        "yuv420p12": "yuv420p12le", "yuv422p12": "yuv422p12le", "yuv444p12": "yuv444p12le"}


def even(value: float) -> int:
    return max(2, round(value / 2.0) * 2)


def output_frame_rate(source: Fraction, target: float) -> Fraction:
    """The Transcoder rule: never above the input rate; an integer divisor of the input rate <= the target."""
    target_f = Fraction(str(target))
    if source <= 0:
        return target_f
    divisor = max(1, math.ceil(source / target_f))
    return source / divisor


def output_size(h264: dict, info: SourceInfo) -> tuple[int, int]:
    """widthPixels/heightPixels semantics of H264CodecSettings, including rotation metadata (sizes are given per
    the horizontal frame; the API swaps them for a rotated portrait input)."""
    width, height = h264.get("widthPixels"), h264.get("heightPixels")
    src_w, src_h = info.display_width, info.height  # horizontal size, anamorphic pixels stretched to square
    if width and height:
        w, h = width, height
    elif height:
        w, h = even(height * src_w / src_h), height
    elif width:
        w, h = width, even(width * src_h / src_w)
    else:
        w, h = even(src_w), even(src_h)
    if info.rotation % 180:
        w, h = h, w
    return w, h


def _fraction_text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _seconds_text(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def build_plan(config: dict, info: SourceInfo, input_path: str, *, missing_audio: str = "skip",
               media_key: str | None = None, inputs: dict[str, MediaInput] | None = None,
               texts: dict[str, list[Cue]] | None = None, overlay_images: list[str] | None = None) -> Plan:
    """The ffmpeg command(s) for a normalised config. ``info``/``input_path`` are the first edit atom's media input
    (``media_key``, default the atom's first input); ``inputs`` holds the other media inputs (of the other atoms,
    and those audio mappings name); ``texts`` the cues (input timeline) of each text elementary stream;
    ``overlay_images`` the local file of each ``overlays[]`` image."""
    streams = {s["key"]: s for s in config["elementaryStreams"]}
    stream_paths = {s["key"]: f"job.config.elementaryStreams[{i}]" for i, s in enumerate(config["elementaryStreams"])}
    notes: list[str] = []

    atom = config["editList"][0]
    media_key = media_key or atom["inputs"][0]
    preprocessing = next((i.get("preprocessingConfig") or {} for i in config["inputs"] if i["key"] == media_key), {})
    media = MediaInput(media_key, input_path, info, preprocessing)
    sources = {media_key: media, **{k: v for k, v in (inputs or {}).items() if k != media_key}}
    segments = _segments(config["editList"], sources, media_key)
    start, end = segments[0].start, segments[0].end
    duration = sum(seg.duration for seg in segments)
    if len(segments) > 1:  # the concatenation: what the rest of the plan sees as "the input"
        info = replace(info, has_video=all(seg.media.info.has_video for seg in segments),
                       has_audio=any(seg.media.info.has_audio for seg in segments))
    planned_texts = {key: PlannedText(key, s["textStream"]["codec"], s["textStream"].get("languageCode", ""),
                                      s["textStream"].get("displayName", ""),
                                      _text_cues(s["textStream"], (texts or {}).get(key) or [], segments))
                     for key, s in streams.items() if "textStream" in s}

    # Which elementary streams are muxed somewhere, and which mux streams survive a missing input track.
    mux_specs = []
    for mux in config["muxStreams"]:
        names = list(mux["elementaryStreams"])
        if mux["container"] == "vtt":
            mux_specs.append((mux, [], [], names[:1]))
            continue
        video_names = [n for n in names if "videoStream" in streams[n]]
        audio_names = [n for n in names if "audioStream" in streams[n]]
        if video_names and not info.has_video:
            raise ApiError("INVALID_ARGUMENT", f"mux stream '{mux['key']}' needs video elementary stream "
                                               f"'{video_names[0]}' but the input has no video track")
        mapped = audio_names and streams[audio_names[0]]["audioStream"].get("mapping")
        if audio_names and not info.has_audio and not mapped:
            if missing_audio == "fail":
                raise MissingAudio("INVALID_ARGUMENT", f"mux stream '{mux['key']}' needs audio elementary stream "
                                                       f"'{audio_names[0]}' but the input has no audio track")
            notes.append(f"input has no audio track: audio stream '{audio_names[0]}' left out of "
                         f"mux stream '{mux['key']}'")
            audio_names = []
        if not video_names and not audio_names:
            notes.append(f"mux stream '{mux['key']}' skipped: nothing to put in it")
            continue
        mux_specs.append((mux, video_names[:1], audio_names[:1], []))
    if not mux_specs:
        raise ApiError("INVALID_ARGUMENT", "no mux stream can be produced from this input")

    source_rate = info.frame_rate * (2 if doubles_frame_rate(preprocessing) else 1)
    frame_w, frame_h = cropped_size(preprocessing, info.width, info.height) if info.has_video else (0, 0)
    framed = replace(info, width=frame_w, height=frame_h, frame_rate=source_rate)
    if len(segments) > 1 and info.has_video:  # every atom is brought to the first one's square-pixel frame and rate
        framed = replace(framed, width=even(frame_w * info.sample_aspect), sample_aspect=Fraction(1))
    rungs: dict[str, VideoRung] = {}
    tracks: dict[str, AudioTrack] = {}
    for _, video_names, audio_names, _ in mux_specs:
        for name in video_names:
            if name not in rungs:
                codec, h264 = video_codec(streams[name]["videoStream"])
                if h264.get("frameRateConversionStrategy") == "DROP_DUPLICATE":  # exactly the target rate
                    fps = Fraction(str(h264["frameRate"])).limit_denominator(1001)
                else:  # DOWNSAMPLE (the default): the input rate or an integer divisor of it
                    fps = output_frame_rate(source_rate, float(h264["frameRate"]))
                width, height = output_size(h264, framed)
                if h264.get("gopFrameCount"):
                    gop_frames = int(h264["gopFrameCount"])
                    gop_sec = gop_frames / float(fps)
                else:
                    gop_sec = gop_seconds(h264)
                    gop_frames = max(1, round(gop_sec * float(fps)))
                rungs[name] = VideoRung(name, len(rungs), width, height, fps, gop_frames, gop_sec, h264, codec,
                                        _sample_entry(codec, name, config["muxStreams"]))
        for name in audio_names:
            if name not in tracks:
                a = streams[name]["audioStream"]
                tracks[name] = AudioTrack(name, len(tracks), a["codec"], a["bitrateBps"], a["channelCount"],
                                          a["sampleRateHertz"], a.get("mapping") or [], a.get("channelLayout") or [])

    muxes: list[PlannedMux] = []
    for mux, video_names, audio_names, text_names in mux_specs:
        planned = PlannedMux(mux["key"], mux["fileName"], mux["container"],
                             rungs[video_names[0]] if video_names else None,
                             tracks[audio_names[0]] if audio_names else None,
                             text=planned_texts[text_names[0]] if text_names else None)
        if planned.segmented:
            settings = mux["segmentSettings"]
            planned.segment_seconds = parse_duration(settings["segmentDuration"], "segmentDuration")
            planned.individual_segments = bool(settings.get("individualSegments"))
        muxes.append(planned)
    kept = {m.key for m in muxes}
    manifests = []
    for manifest in config.get("manifests") or []:
        names = [n for n in manifest["muxStreams"] if n in kept]
        if any(m.video or m.audio for m in muxes if m.key in names):
            manifests.append({**manifest, "muxStreams": names})
        else:
            notes.append(f"manifest '{manifest['fileName']}' skipped: none of its mux streams was produced")

    sprites = _plan_sprites(config.get("spriteSheets") or [], framed, duration) if info.has_video else []
    embedded = next((t for t in planned_texts.values() if t.codec in EMBEDDED_TEXT_CODECS), None)
    if embedded is not None and not rungs:
        notes.append(f"text stream '{embedded.key}' not embedded: the job writes no video")
        embedded = None
    for rung in rungs.values():
        rung.captions = embedded
        rung.color_format = hdr.output_format(rung.settings, info)

    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats", "-progress", "pipe:1"]
    ordered_rungs = sorted(rungs.values(), key=lambda r: r.index)
    ordered_tracks = sorted(tracks.values(), key=lambda t: t.index)
    input_count = [0]

    def add_input(args: list[str]) -> int:
        argv.extend(args)
        input_count[0] += 1
        return input_count[0] - 1

    graph: list[str] = []  # video first, then audio (agraph): existing configs keep their exact command
    agraph: list[str] = []
    if len(segments) == 1:
        trim_args: list[str] = []
        if start > 0:
            trim_args += ["-ss", _seconds_text(start)]
        if atom.get("endTimeOffset"):
            trim_args += ["-to", _seconds_text(end)]
        if start == 0 and not atom.get("endTimeOffset"):
            # The whole input: keep the source's A/V start offset (see _encoder_delay). A trimmed atom, at either
            # end, starts every stream at its cut, the audio one priming later (a premiere's parts, decision 0015:
            # its first part [0, end) must line up with its video exactly as the others [start, end) do).
            lead = max((_encoder_delay(t) for t in tracks.values()), default=0.0)
            argv += ["-copyts", "-start_at_zero"]
            trim_args += ["-itsoffset", _seconds_text(lead)] if lead else []
        add_input([*trim_args, "-i", input_path])
        opener = _opener({media_key: 0}, sources, add_input, trim_args)
        video_source, chain = "[0:v:0]", video_filters(preprocessing)
        audio_sources = {t.key: _audio_graph(t, agraph, sources, opener, stream_paths[t.key], media_key, 0, "")
                         for t in ordered_tracks}
    else:
        video_source, chain = "[catv]", []
        audio_sources = _concat_graph(segments, framed, ordered_rungs, ordered_tracks, agraph, sources, add_input,
                                      stream_paths, bool(rungs or sprites))

    images = [add_input(["-loop", "1", "-framerate", _fraction_text(framed.frame_rate or Fraction(25)),
                         "-i", path]) for path in overlay_images or []] if ordered_rungs else []
    branches = len(ordered_rungs) + len(sprites)
    if branches:
        labels = "".join(f"[s{i}]" for i in range(branches))
        graph.append(video_source + ",".join([*chain, f"split={branches}"] if branches > 1 else chain or ["null"])
                     + labels)
        drawn = [(n, overlay, images[n]) for n, overlay in enumerate(config.get("overlays") or []) if images][::-1]
        for n, _, index in drawn:  # one copy of each image per rendition
            graph.append(f"[{index}:v:0]format=rgba" + (f",split={len(ordered_rungs)}" if len(ordered_rungs) > 1
                                                        else "") + "".join(f"[img{n}_{r.index}]"
                                                                           for r in ordered_rungs))
        for rung in ordered_rungs:
            sized = f"[s{rung.index}]fps={_fraction_text(rung.fps)},scale={rung.width}:{rung.height},setsar=1"
            if drawn:  # overlays on the rendition's frame, the last in the list first (descending Z-order)
                graph.append(f"{sized}[o{rung.index}_0]")
                for step, (n, overlay, _) in enumerate(drawn):
                    graph.append(f"[img{n}_{rung.index}]{_overlay_image_filters(overlay, rung)}[im{n}_{rung.index}];"
                                 f"[o{rung.index}_{step}][im{n}_{rung.index}]{_overlay_filter(overlay, rung)}"
                                 f"[o{rung.index}_{step + 1}]")
                sized = f"[o{rung.index}_{len(drawn)}]null"
            graph.append(f"{sized}{hdr.conversion_filters(rung.settings, info)},"
                         f"format={FFMPEG_PIXEL_FORMATS[rung.settings['pixelFormat']]}[v{rung.index}]")
        for j, sprite in enumerate(sprites):
            graph.append(f"[s{len(ordered_rungs) + j}]" + _sprite_filter(config["spriteSheets"][j], sprite, duration)
                         + f"[sp{j}]")
    audio_maps = [audio_sources[t.key] for t in ordered_tracks]
    graph += agraph
    if graph:
        argv += ["-filter_complex", ";".join(graph)]
    inputs_and_graph = list(argv)  # what a two-pass job's first pass decodes and filters exactly as argv does

    for rung in ordered_rungs:
        argv += ["-map", f"[v{rung.index}]"]
    for label in audio_maps:
        argv += ["-map", label]
    for rung in ordered_rungs:
        argv += _pass_options(_video_options(rung), rung, 2)
    for track in ordered_tracks:
        i = track.index
        argv += [f"-c:a:{i}", AUDIO_ENCODERS[track.codec], f"-b:a:{i}", str(track.bitrate)]
        if not track.mapping:  # a mapping's pan sets the channels itself
            argv += [f"-ac:a:{i}", str(track.channels)]
        argv += [f"-ar:a:{i}", str(track.sample_rate)]
    media_muxes = [m for m in muxes if m.video or m.audio]
    tee = "|".join(_tee_slave(m) for m in media_muxes)
    package_argv: list[str] = []
    if embedded is not None and media_muxes:
        argv += ["-flags", "+global_header", "-f", "nut", ENCODED]
        package_argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats", "-i", CAPTIONED]
        package_argv += [arg for r in ordered_rungs for arg in ("-map", f"0:v:{r.index}")]
        package_argv += [arg for t in ordered_tracks for arg in ("-map", f"0:a:{t.index}")]
        # NUT's codec tags (H264, 0xFF) are not ISO BMFF ones: name them for the mp4/fMP4 muxers (TS ignores tags)
        package_argv += ["-c", "copy"]
        package_argv += [arg for r in ordered_rungs for arg in (f"-tag:v:{r.index}", r.tag)]
        package_argv += [arg for t in ordered_tracks if t.codec in AUDIO_TAGS
                         for arg in (f"-tag:a:{t.index}", AUDIO_TAGS[t.codec])]
        package_argv += ["-f", "tee", tee]
    elif media_muxes:
        argv += ["-flags", "+global_header", "-f", "tee", tee]

    for j, sprite in enumerate(sprites):
        quality = int(config["spriteSheets"][j].get("quality", 100))
        qscale = round(2 + (100 - quality) * 29 / 99)
        sprite.frames_dir = f"../sprites/{j}"
        argv += ["-map", f"[sp{j}]", "-c:v", "png", "-f", "image2", "-start_number", "0",
                 f"{sprite.frames_dir}/%06d.png"]
        sprite.tile_argv = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-framerate", "1",
                            "-start_number", "0", "-i", f"{sprite.frames_dir}/%06d.png", "-vf",
                            f"tile={sprite.columns}x{sprite.rows},format=yuvj420p", "-c:v", "mjpeg", "-q:v",
                            str(qscale), "-f", "image2", "-start_number", "0", f"{sprite.prefix}%010d.jpeg"]
    if not media_muxes and not sprites:
        argv = []  # only text outputs: nothing for ffmpeg to encode
    expected = round(duration * float(ordered_rungs[0].fps)) if ordered_rungs else 0
    first_pass = _first_pass(inputs_and_graph, ordered_rungs, audio_maps, len(sprites)) if argv else []
    return Plan(argv, muxes, manifests, sprites, duration, notes, expected, embedded, package_argv, first_pass)


def _two_pass(rung: VideoRung) -> bool:
    """H264/H265CodecSettings.enableTwoPass (vbr only, checked by the validator; Vp9CodecSettings has no such field)."""
    return rung.codec in ("h264", "h265") and bool(rung.settings.get("enableTwoPass"))


def pass_log(rung: VideoRung) -> str:
    """The rate-control statistics of a two-pass rendition, relative to the output folder (outside it: never
    uploaded). x264 gets the prefix (ffmpeg names the file ``<prefix>-<output stream>.log``), x265 a file name."""
    return f"../twopass-v{rung.index}" + (".log" if rung.codec == "h265" else "")


def _pass_options(opts: list[str], rung: VideoRung, number: int) -> list[str]:
    """A two-pass rendition's encoder options for pass ``number`` (others unchanged): libx264 ``-pass`` and
    ``-passlogfile``; libx265 (ffmpeg 5.1's wrapper ignores ``-pass``) ``pass=`` and ``stats=`` in x265-params."""
    if not _two_pass(rung):
        return opts
    i = rung.index
    if rung.codec == "h264":
        return [*opts, f"-pass:v:{i}", str(number), f"-passlogfile:v:{i}", pass_log(rung)]
    at = opts.index(f"-x265-params:v:{i}") + 1
    return [*opts[:at], f"{opts[at]}:pass={number}:stats={pass_log(rung)}", *opts[at + 1:]]


def _first_pass(head: list[str], rungs: list[VideoRung], audio_maps: list[str], sprites: int) -> list[str]:
    """Pass 1 of the two-pass renditions: the same inputs and filter graph as the job's command (so pass 2 sees the
    very frames pass 1 measured), the two-pass renditions encoded with ``pass 1`` into the null muxer. Every other
    output of the graph is taken unencoded (wrapped_avframe, pcm) since a filter graph may leave no output unused.
    [] when no rendition asks for two passes."""
    if not any(_two_pass(r) for r in rungs):
        return []
    argv = list(head)
    argv += [arg for r in rungs for arg in ("-map", f"[v{r.index}]")]
    filtered_audio = [label for label in audio_maps if label.startswith("[")]
    argv += [arg for label in filtered_audio for arg in ("-map", label)]
    argv += [arg for j in range(sprites) for arg in ("-map", f"[sp{j}]")]
    for rung in rungs:
        argv += (_pass_options(_video_options(rung), rung, 1) if _two_pass(rung)
                 else [f"-c:v:{rung.index}", "wrapped_avframe"])
    for j in range(sprites):
        argv += [f"-c:v:{len(rungs) + j}", "wrapped_avframe"]
    if filtered_audio:
        argv += ["-c:a", "pcm_f32le"]
    return [*argv, "-f", "null", "-"]


# libmp3lame: LAME's 576-sample delay + 529 (ffmpeg's initial_padding); libvorbis sets none (Ogg pre-skip is 0)
ENCODER_DELAY_SAMPLES = {"aac": 1024, "aac-he": 1024, "aac-he-v2": 1024, "ac3": 256, "eac3": 256, "mp3": 1105,
                         "vorbis": 0}


def _encoder_delay(track: AudioTrack) -> float:
    """Seconds of priming ffmpeg's encoder for ``track`` puts before the first input sample (initial_padding).

    Why the plan moves the whole input timeline by this much: without ``-copyts`` ffmpeg starts every output stream
    at zero (CFR video is padded back to zero with copies of its first picture),
    and each single-stream HLS/mp4 muxer of the tee shifts its own negative timestamps (the audio priming) to zero.
    Either loses the source's audio/video start offset. ``-copyts -start_at_zero`` keeps every stream where the
    source has it (0 = the file's earliest stream), and ``-itsoffset`` of the priming keeps the primed audio at or
    after zero, so no muxer shifts one stream against the others."""
    return ENCODER_DELAY_SAMPLES.get(track.codec, 1024) / track.sample_rate


@dataclass
class Segment:
    """One edit atom on the output timeline: [start, end) of its media input."""
    atom_key: str
    media: MediaInput
    start: float
    end: float
    offset: float = 0.0  # where it starts on the output timeline

    @property
    def duration(self) -> float:
        return self.end - self.start


def _segments(atoms: list[dict], sources: dict[str, MediaInput], first_key: str) -> list[Segment]:
    """The edit atoms as segments of the output timeline; an atom's media input is its first input that is media."""
    out: list[Segment] = []
    offset = 0.0
    for n, atom in enumerate(atoms):
        key = first_key if n == 0 else next((k for k in atom["inputs"] if k in sources), None)
        if key is None:
            raise ApiError("INVALID_ARGUMENT", f"job.config.editList[{n}].inputs: edit atom '{atom['key']}' has no "
                                               "video or audio input")
        info = sources[key].info
        start = parse_duration(atom.get("startTimeOffset", "0s"), "startTimeOffset")
        end = parse_duration(atom["endTimeOffset"], "endTimeOffset") if atom.get("endTimeOffset") else info.duration
        end = min(end, info.duration)
        if end - start <= 0:
            raise ApiError("INVALID_ARGUMENT", f"job.config.editList[{n}].startTimeOffset: edit atom "
                                               f"'{atom['key']}' starts at {start:g}s, after the end of its input "
                                               f"({info.duration:g}s)")
        out.append(Segment(atom["key"], sources[key], start, end, offset))
        offset += end - start
    return out


def _text_cues(text: dict, cues: list[Cue], segments: list[Segment]) -> list[Cue]:
    """The cues of a text stream on the output timeline: trimmed to its mapping's atom and moved by that atom's
    place in the concatenation."""
    atom_key = text["mapping"][0]["atomKey"] if text.get("mapping") else segments[0].atom_key
    seg = next((s for s in segments if s.atom_key == atom_key), segments[0])
    return [Cue(round(c.start + seg.offset, 3), round(c.end + seg.offset, 3), c.text)
            for c in trim(cues, seg.start, seg.end)]


_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "quad", 5: "5.0", 6: "5.1"}


def _concat_format(rungs: list[VideoRung]) -> str:
    """The pixel format the atoms are joined in: deep and wide enough for every rendition."""
    depth = max([12 if f.endswith("12") else 10 if f.endswith("10") else 8
                 for f in (r.settings["pixelFormat"] for r in rungs)] or [8])
    chroma = max([f[:7] for f in (r.settings["pixelFormat"] for r in rungs)] or ["yuv420p"])
    return chroma + ("" if depth == 8 else f"{depth}le")


def _concat_graph(segments: list[Segment], framed: SourceInfo, rungs: list[VideoRung], tracks: list[AudioTrack],
                  graph: list[str], sources: dict[str, MediaInput], add_input, stream_paths: dict[str, str],
                  video: bool) -> dict[str, str]:
    """Several edit atoms: each atom's media input opened with its trim, its video brought to the first atom's frame
    (size with letterbox, square pixels, frame rate, pixel format), its audio to each track's rate and layout
    (silence for an atom without audio), all joined by ONE concat filter so audio and video stay in step and
    timestamps run on from 0s ([catv] for the renditions). Returns each track's audio label."""
    width, height, rate = framed.width, framed.height, framed.frame_rate or Fraction(25)
    fmt = _concat_format(rungs)
    pads: list[str] = []
    for k, seg in enumerate(segments):
        trim_args = (["-ss", _seconds_text(seg.start)] if seg.start > 0 else []) + [
            "-to", _seconds_text(seg.end)]
        index = add_input([*trim_args, "-i", seg.media.path])
        opener = _opener({seg.media.key: index}, sources, add_input, trim_args)
        span = _seconds_text(seg.duration)
        if video:
            chain = [*video_filters(seg.media.preprocessing),
                     f"scale={width}:{height}:force_original_aspect_ratio=decrease",
                     f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2", "setsar=1", f"fps={_fraction_text(rate)}",
                     f"format={fmt}", f"trim=duration={span}", "setpts=PTS-STARTPTS"]
            graph.append(f"[{index}:v:0]{','.join(chain)}[cv{k}]")
            pads.append(f"[cv{k}]")
        for track in tracks:
            layout = "+".join(c.upper() for c in track.layout) if track.layout else _LAYOUTS[track.channels]
            norm = (f"aresample={track.sample_rate},aformat=sample_fmts=fltp:channel_layouts={layout},"
                    f"atrim=duration={span},asetpts=PTS-STARTPTS")
            mapped = any(m["atomKey"] == seg.atom_key for m in track.mapping)
            if mapped or (not track.mapping and seg.media.info.has_audio):
                label = _audio_graph(track, graph, sources, opener, stream_paths[track.key], seg.media.key, index,
                                     seg.atom_key)
                graph.append(f"{label}{norm}[ca{track.index}_{k}]")
            else:  # this atom has no audio for the track: silence of its length keeps the timeline continuous
                graph.append(f"anullsrc=r={track.sample_rate}:cl={layout},{norm}[ca{track.index}_{k}]")
            pads.append(f"[ca{track.index}_{k}]")
    outs = ("[catv]" if video else "") + "".join(f"[cata{t.index}]" for t in tracks)
    graph.append(f"{''.join(pads)}concat=n={len(segments)}:v={1 if video else 0}:a={len(tracks)}{outs}")
    return {t.key: f"[cata{t.index}]" for t in tracks}


def _overlay_image_filters(overlay: dict, rung: VideoRung) -> str:
    """Size (Image.resolution of the rendition's frame) and opacity over time (animations x Image.alpha)."""
    res = overlay["image"]["resolution"]
    w = max(1, round(res["x"] * rung.width)) if res["x"] else -1
    h = max(1, round(res["y"] * rung.height)) if res["y"] else -1
    parts = [f"scale={w}:{h}"] if (w, h) != (-1, -1) else []
    phases = overlay_timeline(overlay)
    alpha = overlay["image"]["alpha"]
    if any(p.alpha0 != p.alpha1 for p in phases):  # a fade: opacity as a function of time, per pixel
        parts.append(r"geq=r=r(X\,Y):g=g(X\,Y):b=b(X\,Y):"
                     rf"a=alpha(X\,Y)*{alpha:g}*{_phase_expr(phases, 'T', _opacity)}")
    elif alpha < 1:  # constant opacity (when it is shown: overlay's enable)
        parts.append(f"colorchannelmixer=aa={alpha:g}")
    return ",".join(parts) or "null"


def _overlay_filter(overlay: dict, rung: VideoRung) -> str:
    """Where (animations' xy, in the rendition's pixels) and when (opacity 1 phases, when no ramp needs geq)."""
    phases = overlay_timeline(overlay)
    x = _phase_expr(phases, "t", lambda p: str(round(p.x * rung.width)), before=None)
    y = _phase_expr(phases, "t", lambda p: str(round(p.y * rung.height)), before=None)
    # blend in the rendition's own format (overlay's default converts the frame to yuv420; "auto" may pick a wider one)
    opts = [f"x={x}", f"y={y}", f"format={_OVERLAY_FORMATS.get(rung.settings['pixelFormat'], 'auto')}", "shortest=1"]
    if all(p.alpha0 == p.alpha1 for p in phases):
        opts.append(f"enable={_phase_expr(phases, 't', lambda p: f'{p.alpha1:g}')}")
    return "overlay=" + ":".join(opts)


_OVERLAY_FORMATS = {"yuv420p": "yuv420", "yuv420p10": "yuv420p10", "yuv422p": "yuv422", "yuv422p10": "yuv422p10",
                    "yuv444p": "yuv444"}


def _opacity(phase: Phase) -> str:
    if phase.alpha0 == phase.alpha1 or phase.ramp_end <= phase.start:
        return f"{phase.alpha1:g}"
    ramp = rf"clip((T-{phase.start:g})/{phase.ramp_end - phase.start:g}\,0\,1)"
    return f"({phase.alpha0:g}+({phase.alpha1 - phase.alpha0:g})*{ramp})"


def _phase_expr(phases: list[Phase], var: str, value, before: str | None = "0") -> str:
    """A piecewise expression over ``var`` (seconds): each phase's ``value`` from its start to the next phase's;
    ``before`` the first one (None: the first phase's value)."""
    expr = value(phases[-1])
    for current, following in zip(reversed(phases[:-1]), reversed(phases[1:]), strict=True):
        expr = rf"if(lt({var}\,{following.start:g})\,{value(current)}\,{expr})"
    if before is not None and phases[0].start > 0:
        expr = rf"if(lt({var}\,{phases[0].start:g})\,{before}\,{expr})"
    return expr


def _opener(opened: dict[str, int], sources: dict[str, MediaInput], add_input, trim_args: list[str]):
    """``open_input(key)``: the ffmpeg input index of media input ``key`` with this atom's trim (opened once)."""
    def open_input(key: str) -> int:
        if key not in opened:
            opened[key] = add_input([*trim_args, "-i", sources[key].path])
        return opened[key]
    return open_input


def _audio_graph(track: AudioTrack, graph: list[str], sources: dict[str, MediaInput], open_input, field: str,
                 main_key: str, main_index: int, atom_key: str) -> str:
    """Add the filters of one audio elementary stream (of edit atom ``atom_key``; "" = the only atom) to ``graph``;
    return what ``-map`` (or the concat filter) takes for it."""
    field = f"{field}.audioStream"
    suffix = f"_{atom_key}" if atom_key else ""
    out = f"[aout{track.index}{suffix}]"
    mappings = [m for m in track.mapping if not atom_key or m["atomKey"] == atom_key]
    if not mappings:
        pre = audio_filters(sources[main_key].preprocessing)
        if not pre and not atom_key:
            return f"{main_index}:a:0"
        graph.append(f"[{main_index}:a:0]{','.join(pre) or 'anull'}{out}")
        return out
    track = replace(track, mapping=mappings)
    pairs: list[tuple[str, int]] = []
    for mapping in track.mapping:
        pair = (mapping["inputKey"], mapping["inputTrack"])
        if pair not in pairs:
            pairs.append(pair)
    offsets: dict[tuple[str, int], int] = {}
    labels = []
    total = 0
    for n, (key, number) in enumerate(pairs):
        j = next(i for i, m in enumerate(track.mapping) if (m["inputKey"], m["inputTrack"]) == (key, number))
        source = sources.get(key)
        if source is None or not source.info.has_audio:
            raise ApiError("INVALID_ARGUMENT", f"{field}.mapping[{j}].inputKey: input '{key}' has no audio track")
        if number not in source.info.audio_tracks:
            tracks = ", ".join(map(str, sorted(source.info.audio_tracks)))
            raise ApiError("INVALID_ARGUMENT", f"{field}.mapping[{j}].inputTrack: track {number} of input '{key}' "
                                               f"is not an audio track (its audio tracks: {tracks})")
        offsets[(key, number)] = total
        total += source.info.audio_tracks[number]
        pre = audio_filters(source.preprocessing)
        label = f"[am{track.index}{suffix}_{n}]"
        graph.append(f"[{open_input(key)}:{number}]{','.join(pre) if pre else 'anull'}{label}")
        labels.append(label)
    terms: dict[int, list[str]] = {c: [] for c in range(track.channels)}
    for j, mapping in enumerate(track.mapping):
        pair = (mapping["inputKey"], mapping["inputTrack"])
        available = sources[pair[0]].info.audio_tracks[pair[1]]
        if mapping["inputChannel"] >= available:
            raise ApiError("INVALID_ARGUMENT", f"{field}.mapping[{j}].inputChannel: track {pair[1]} of input "
                                               f"'{pair[0]}' has {available} channel(s), no channel "
                                               f"{mapping['inputChannel']}")
        gain = 10 ** (float(mapping.get("gainDb") or 0) / 20)
        terms[mapping["outputChannel"]].append(f"{gain:.6g}*c{offsets[pair] + mapping['inputChannel']}")
    layout = "+".join(c.upper() for c in track.layout) if track.layout else f"{track.channels}c"
    pan = "pan=" + layout + "".join(f"|c{c}={'+'.join(t) if t else '0*c0'}" for c, t in terms.items())
    merged = f"amerge=inputs={len(labels)}," if len(labels) > 1 else ""
    graph.append(f"{''.join(labels)}{merged}{pan}{out}")
    return out


def _sample_entry(codec: str, stream: str, muxes: list[dict]) -> str:
    """The ISO BMFF sample entry of a video stream: avc1, vp09, and for H.265 hvc1 unless the first fmp4 mux stream
    carrying it asks hev1 (MuxStream.fmp4.codecTag; one encoded stream has one tag in this single-encode plan)."""
    if codec != "h265":
        return {"h264": "avc1", "vp9": "vp09"}[codec]
    for mux in muxes:
        if stream in mux["elementaryStreams"] and mux.get("fmp4"):
            return mux["fmp4"]["codecTag"]
    return "hvc1"


def _video_options(rung: VideoRung) -> list[str]:
    if rung.codec == "h265":
        return _x265_options(rung) + hdr.encoder_options(rung.settings, rung.index)
    if rung.codec == "vp9":
        return _vp9_options(rung) + hdr.encoder_options(rung.settings, rung.index)
    h = rung.settings
    i = rung.index
    opts = [f"-c:v:{i}", "libx264", f"-preset:v:{i}", h["preset"], f"-profile:v:{i}", h["profile"],
            f"-g:v:{i}", str(rung.gop_frames), f"-keyint_min:v:{i}", str(rung.gop_frames),
            f"-sc_threshold:v:{i}", "0",
            f"-force_key_frames:v:{i}", f"expr:gte(t,n_forced*{_seconds_text(rung.gop_seconds)})",
            f"-maxrate:v:{i}", str(h["bitrateBps"]), f"-bufsize:v:{i}", str(h["vbvSizeBits"]),
            f"-rc_init_occupancy:v:{i}", str(h["vbvFullnessBits"]),
            f"-coder:v:{i}", "1" if h.get("entropyCoder") == "cabac" else "0",
            f"-bf:v:{i}", str(h.get("bFrameCount", 0))]
    opts += _rate_and_tune(h, i)
    if h.get("aqStrength"):
        opts += [f"-aq-strength:v:{i}", str(h["aqStrength"])]
    if h.get("bFrameCount"):
        opts += [f"-b-pyramid:v:{i}", "normal" if h.get("bPyramid") else "none"]
    return opts + hdr.encoder_options(h, i)


def _rate_and_tune(h: dict, i: int) -> list[str]:
    """rateControlMode (crf: crfLevel, else the bitrate) and tune, as libx264 and libx265 both take them."""
    crf = h.get("rateControlMode") == "crf"
    opts = [f"-crf:v:{i}", str(h["crfLevel"])] if crf else [f"-b:v:{i}", str(h["bitrateBps"])]
    return opts + ([f"-tune:v:{i}", h["tune"]] if h.get("tune") else [])


def _x265_options(rung: VideoRung) -> list[str]:
    """H265CodecSettings -> libx265: GOP and VBV in x265-params (ffmpeg 5.1's wrapper maps only some of them)."""
    h, i = rung.settings, rung.index
    params = [f"keyint={rung.gop_frames}", f"min-keyint={rung.gop_frames}", "scenecut=0",
              f"open-gop={1 if h.get('allowOpenGop') else 0}", f"bframes={h.get('bFrameCount', 0)}",
              f"b-pyramid={1 if h.get('bPyramid') else 0}",
              f"vbv-maxrate={max(1, h['bitrateBps'] // 1000)}", f"vbv-bufsize={max(1, h['vbvSizeBits'] // 1000)}",
              f"vbv-init={h['vbvFullnessBits'] / h['vbvSizeBits']:.3f}", "repeat-headers=1", "log-level=error"]
    if h.get("aqStrength") is not None:
        params.append(f"aq-strength={h['aqStrength']}")
    if h.get("profile", "").endswith("-intra"):
        params.append("keyint=1")
    params += hdr.x265_params(h)
    opts = [f"-c:v:{i}", "libx265", f"-preset:v:{i}", h["preset"], f"-profile:v:{i}", h["profile"],
            f"-forced-idr:v:{i}", "1", f"-x265-params:v:{i}", ":".join(params),
            f"-force_key_frames:v:{i}", f"expr:gte(t,n_forced*{_seconds_text(rung.gop_seconds)})",
            f"-tag:v:{i}", rung.tag]
    opts += _rate_and_tune(h, i)
    return opts


def _vp9_options(rung: VideoRung) -> list[str]:
    """Vp9CodecSettings -> libvpx-vp9, VBR at bitrateBps (maxrate = bitrate, one-second buffer), realtime speed 8
    (the emulator favours speed; the profile follows the pixel format)."""
    h, i = rung.settings, rung.index
    return [f"-c:v:{i}", "libvpx-vp9", f"-b:v:{i}", str(h["bitrateBps"]), f"-maxrate:v:{i}", str(h["bitrateBps"]),
            f"-bufsize:v:{i}", str(h["bitrateBps"]), f"-g:v:{i}", str(rung.gop_frames),
            f"-keyint_min:v:{i}", str(rung.gop_frames),
            f"-force_key_frames:v:{i}", f"expr:gte(t,n_forced*{_seconds_text(rung.gop_seconds)})",
            f"-profile:v:{i}", h["profile"][-1], f"-deadline:v:{i}", "realtime", f"-cpu-used:v:{i}", "8",
            f"-row-mt:v:{i}", "1", f"-tag:v:{i}", rung.tag]


def _tee_slave(mux: PlannedMux) -> str:
    select = ",".join(s for s in (f"v:{mux.video.index}" if mux.video else "",
                                  f"a:{mux.audio.index}" if mux.audio else "") if s)
    opts = [f"select=\\'{select}\\'"]
    if not mux.segmented:
        opts += {"mp3": ["f=mp3"], "ogg": ["f=ogg"]}.get(mux.container, ["f=mp4", "movflags=+faststart"])
        return f"[{':'.join(opts)}]{mux.file_name}"
    flags = "independent_segments" + ("" if mux.individual_segments else "+single_file")
    opts += ["f=hls", f"hls_time={_seconds_text(mux.segment_seconds)}", "hls_playlist_type=vod", "hls_list_size=0",
             "start_number=0", f"hls_flags={flags}",
             f"hls_segment_type={'fmp4' if mux.container == 'fmp4' else 'mpegts'}"]
    ext = container_extension(mux.container)
    opts.append(f"hls_segment_filename={mux.stem}%010d{ext}" if mux.individual_segments
                else f"hls_segment_filename={mux.file_name}")
    if mux.container == "fmp4":
        opts.append(f"hls_fmp4_init_filename={mux.init_name}")
    return f"[{':'.join(opts)}]{mux.playlist}"


def _plan_sprites(sprites: list[dict], info: SourceInfo, duration: float) -> list[PlannedSprite]:
    planned = []
    disp_w, disp_h = info.display_size
    for sprite in sprites:
        start = parse_duration(sprite.get("startTimeOffset", "0s"), "startTimeOffset")
        end = parse_duration(sprite["endTimeOffset"], "endTimeOffset") if sprite.get("endTimeOffset") else duration
        span = max(0.0, min(end, duration) - start)
        if sprite.get("interval"):
            count = max(1, math.ceil(span / parse_duration(sprite["interval"], "interval") - 1e-9))
        else:
            count = int(sprite.get("totalCount") or 100)
        columns, rows = sprite.get("columnCount") or 0, sprite.get("rowCount") or 0
        if not columns:
            columns = math.ceil(count / rows) if rows else math.ceil(math.sqrt(count))
        columns = min(columns, count)  # a sheet is no wider or taller than its sprites need
        rows = min(rows, math.ceil(count / columns)) if rows else math.ceil(count / columns)
        width, height = sprite.get("spriteWidthPixels"), sprite.get("spriteHeightPixels")
        if not width:
            width = even(height * disp_w / disp_h)
        if not height:
            height = even(width * disp_h / disp_w)
        planned.append(PlannedSprite(sprite["filePrefix"], columns, rows, count, width, height))
    return planned


def _sprite_filter(sprite: dict, planned: PlannedSprite, duration: float) -> str:
    start = parse_duration(sprite.get("startTimeOffset", "0s"), "startTimeOffset")
    end = parse_duration(sprite["endTimeOffset"], "endTimeOffset") if sprite.get("endTimeOffset") else duration
    span = max(1e-3, min(end, duration) - start)
    parts = []
    if start > 0 or sprite.get("endTimeOffset"):
        parts.append(f"trim=start={_seconds_text(start)}:end={_seconds_text(min(end, duration))},"
                     "setpts=PTS-STARTPTS")
    if sprite.get("interval"):
        rate = 1 / Fraction(str(parse_duration(sprite["interval"], "interval")))
    else:
        rate = Fraction(planned.count) / Fraction(str(round(span, 6)))
    # eof_action=pass: a sampling period longer than the clip still yields its one frame (a short poster span)
    parts.append(f"fps=fps={_fraction_text(rate)}:round=down:eof_action=pass")
    parts.append(f"trim=end_frame={planned.count}")
    parts.append(f"scale={planned.width}:{planned.height},setsar=1,format=rgb24")
    return ",".join(parts)
