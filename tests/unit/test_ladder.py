"""ladder: the Transcoder job config built from the probed source."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from fractions import Fraction

import pytest
from google.cloud.video import transcoder_v1
from kstream.transcode.ladder import (
    AUDIO_BITRATE_BPS,
    LADDER,
    SubtitleInput,
    build_job_config,
    check_transcodable,
    estimate_minutes,
    gop_seconds_for,
    plan_renditions,
    rendition_names,
    storyboard_interval_seconds,
    subtitle_mux_key,
    to_proto,
)
from kstream.transcode.media_probe import SourceInfo, UnsupportedSource

from tests.media_corpus import SAMPLES

TOPIC = "projects/kstream-test/topics/transcode-events"


def src(
    width: int,
    height: int,
    *,
    duration: float | None = 3600.0,
    audio: bool = True,
    rotation: int = 0,
    fps: float | None = 23.976,
    channels: int | None = 2,
    **new: object,
) -> SourceInfo:
    """A probed source; ``new`` sets the fields the pymediainfo probe added (scan_type, field_order, ...)."""
    fields: dict = {
        "sample_aspect_ratio": Fraction(1),
        "coded_width": None,
        "coded_height": None,
        "scan_type": "progressive",
        "field_order": None,
        "bit_depth": 8,
        "frame_rate_mode": "cfr",
        "audio_tracks": 1 if audio else 0,
        "audio_channel_layout": None,
        "audio_dual_mono": False,
    }
    fields.update(new)
    return SourceInfo(
        width=width,
        height=height,
        duration_seconds=duration,
        has_audio=audio,
        has_video=True,
        container="mp4",
        video_codec="h264",
        frame_rate=fps,
        rotation=rotation,
        audio_codec="aac" if audio else None,
        audio_channels=channels if audio else None,
        **fields,
    )


def build(source: SourceInfo, **kw) -> dict:
    return build_job_config(
        source,
        input_uri="gs://kstream-sources/v1/source.mp4",
        output_uri="gs://kstream-media/v1/",
        pubsub_topic=TOPIC,
        **kw,
    )


def video_sizes(cfg: dict) -> list[tuple[int, int]]:
    return [
        (es["videoStream"]["h264"]["widthPixels"], es["videoStream"]["h264"]["heightPixels"])
        for es in cfg["elementaryStreams"]
        if "videoStream" in es
    ]


def seconds(duration: str) -> Fraction:
    assert duration.endswith("s")
    return Fraction(duration[:-1])


# --------------------------------------------------------------------------------------------------------------------
# the ladder


@pytest.mark.parametrize("hdr", ["hlg", "pq"])
def test_an_hdr_source_is_converted_to_sdr_on_every_rung_and_an_sdr_one_is_left_alone(hdr: str) -> None:
    def rungs(source: SourceInfo) -> list[dict]:
        return [es["videoStream"]["h264"] for es in build(source)["elementaryStreams"] if "videoStream" in es]

    converted = rungs(src(1920, 1080, hdr=hdr, bit_depth=10))
    assert len(converted) == 3 and all(r["sdr"] == {} and r["pixelFormat"] == "yuv420p" for r in converted)
    assert all("sdr" not in r and "hlg" not in r for r in rungs(src(1920, 1080)))


def test_1080p_landscape_gets_three_rungs() -> None:
    cfg = build(src(1920, 1080))
    assert rendition_names(cfg) == ["360p", "720p", "1080p"]
    assert video_sizes(cfg) == [(640, 360), (1280, 720), (1920, 1080)]
    bitrates = [es["videoStream"]["h264"]["bitrateBps"] for es in cfg["elementaryStreams"] if "videoStream" in es]
    assert bitrates == [LADDER["360p"].video_bitrate_bps, LADDER["720p"].video_bitrate_bps, 6_000_000]


def test_720p_source_gets_two_rungs() -> None:
    cfg = build(src(1280, 720))
    assert rendition_names(cfg) == ["360p", "720p"]
    assert video_sizes(cfg) == [(640, 360), (1280, 720)]


def test_4k_source_gets_three_rungs_no_4k() -> None:
    cfg = build(src(3840, 2160))
    assert rendition_names(cfg) == ["360p", "720p", "1080p"]
    assert video_sizes(cfg) == [(640, 360), (1280, 720), (1920, 1080)]


def test_portrait_source_gets_portrait_rungs() -> None:
    cfg = build(src(1080, 1920))
    assert rendition_names(cfg) == ["360p", "720p", "1080p"]
    assert video_sizes(cfg) == [(360, 640), (720, 1280), (1080, 1920)]


def test_rotated_phone_clip_sizes_are_in_stored_orientation() -> None:
    """Stored 1920x1080 + rotation 90 = displayed 1080x1920. The API swaps the requested size itself for rotated
    input, so the request is in the stored (landscape) orientation and the output comes out portrait."""
    source = src(1080, 1920, rotation=90)
    assert [(r.width, r.height) for r in plan_renditions(source)] == [(360, 640), (720, 1280), (1080, 1920)]
    cfg = build(source)
    assert video_sizes(cfg) == [(640, 360), (1280, 720), (1920, 1080)]
    storyboard = next(s for s in cfg["spriteSheets"] if s["filePrefix"] == "storyboard")
    assert (storyboard["spriteWidthPixels"], storyboard["spriteHeightPixels"]) == (284, 160)


def test_square_source_gets_square_rungs() -> None:
    cfg = build(src(1080, 1080))
    assert rendition_names(cfg) == ["360p", "720p", "1080p"]
    assert video_sizes(cfg) == [(360, 360), (720, 720), (1080, 1080)]
    bitrates = [r.video_bitrate_bps for r in plan_renditions(src(1080, 1080))]
    assert bitrates == sorted(bitrates)
    assert bitrates[-1] < LADDER["1080p"].video_bitrate_bps  # fewer pixels than 1920x1080, fewer bits


def test_tiny_source_gets_one_rung_at_its_own_size() -> None:
    cfg = build(src(320, 180))
    assert video_sizes(cfg) == [(320, 180)]
    assert rendition_names(cfg) == ["180p"]
    (rendition,) = plan_renditions(src(320, 180))
    assert 150_000 <= rendition.video_bitrate_bps < LADDER["360p"].video_bitrate_bps


@pytest.mark.parametrize(
    ("width", "height"), [(853, 479), (1279, 719), (641, 361), (1919, 1079), (355, 201), (721, 1281), (999, 999)]
)
def test_odd_source_dimensions_give_even_outputs(width: int, height: int) -> None:
    source = src(width, height)
    cfg = build(source)
    sizes = video_sizes(cfg)
    assert sizes
    for w, h in sizes:
        assert w % 2 == 0 and h % 2 == 0
        assert w <= width and h <= height  # never upscaled
        assert abs(w / h - width / height) < 0.02  # aspect kept
    assert len(set(sizes)) == len(sizes)
    for sheet in cfg["spriteSheets"]:
        assert sheet["spriteWidthPixels"] % 2 == 0 and sheet["spriteHeightPixels"] % 2 == 0


def test_source_between_rungs_keeps_its_own_resolution() -> None:
    # 960x540: 720p would upscale; rather than stopping at 360p, add the source size
    assert [(r.name, r.width, r.height) for r in plan_renditions(src(960, 540))] == [
        ("360p", 640, 360),
        ("540p", 960, 540),
    ]
    # 1280x720 -> no extra rung (720p already is the source size); 1366x768 is too close to 720p to add one
    assert [r.name for r in plan_renditions(src(1366, 768))] == ["360p", "720p"]


def test_near_miss_source_keeps_the_rung_at_source_size() -> None:
    renditions = plan_renditions(src(1916, 1076))
    assert [r.name for r in renditions] == ["360p", "720p", "1080p"]
    assert (renditions[-1].width, renditions[-1].height) == (1916, 1076)


def test_cinemascope_film_is_bounded_by_width() -> None:
    renditions = plan_renditions(src(1920, 800))
    assert [(r.name, r.width, r.height) for r in renditions] == [
        ("360p", 640, 266),
        ("720p", 1280, 534),
        ("1080p", 1920, 800),
    ]


def test_subset_of_rungs() -> None:
    cfg = build(src(1920, 1080), rungs=("720p",))
    assert rendition_names(cfg) == ["720p"]
    with pytest.raises(ValueError, match="rungs"):
        build(src(1920, 1080), rungs=("4k",))
    with pytest.raises(ValueError, match="rungs"):
        build(src(1920, 1080), rungs=())


# --------------------------------------------------------------------------------------------------------------------
# streams, manifests, alignment


def test_no_audio_source_has_no_audio_streams() -> None:
    cfg = build(src(1920, 1080, audio=False))
    assert not any("audioStream" in es for es in cfg["elementaryStreams"])
    assert all(m["key"] != "audio" for m in cfg["muxStreams"])
    assert all(len(m["elementaryStreams"]) == 1 for m in cfg["muxStreams"])
    for manifest in cfg["manifests"]:
        assert manifest["muxStreams"] == ["video-360p", "video-720p", "video-1080p"]
    to_proto(cfg)


def test_audio_stream() -> None:
    cfg = build(src(1920, 1080))
    (audio,) = [es["audioStream"] for es in cfg["elementaryStreams"] if "audioStream" in es]
    assert audio == {
        "codec": "aac",
        "bitrateBps": AUDIO_BITRATE_BPS,
        "channelCount": 2,
        "channelLayout": ["fl", "fr"],
        "sampleRateHertz": 48_000,
    }
    (mono,) = [
        es["audioStream"] for es in build(src(1920, 1080, channels=1))["elementaryStreams"] if "audioStream" in es
    ]
    assert (mono["channelCount"], mono["channelLayout"]) == (1, ["fc"])


@pytest.mark.parametrize(("segment", "gop"), [(6.0, 2.0), (4, 2.0), (10, 2.0), (3, 1.5), (5, 1.0), (2, 2.0), (1, 1.0)])
def test_segments_align_to_gops(segment: float, gop: float) -> None:
    assert gop_seconds_for(segment) == gop
    cfg = build(src(1920, 1080), segment_seconds=segment)
    for es in cfg["elementaryStreams"]:
        if "videoStream" in es:
            g = seconds(es["videoStream"]["h264"]["gopDuration"])
            assert g == Fraction(gop).limit_denominator(1000)
            for mux in cfg["muxStreams"]:
                if "segmentSettings" in mux:
                    seg = seconds(mux["segmentSettings"]["segmentDuration"])
                    assert seg >= g and (seg / g).denominator == 1  # the segment is a whole number of GOPs
    segments = {m["segmentSettings"]["segmentDuration"] for m in cfg["muxStreams"] if "segmentSettings" in m}
    assert len(segments) == 1  # every rendition and the audio cut at the same points


def test_default_segment_is_six_seconds_with_two_second_gops() -> None:
    cfg = build(src(1920, 1080))
    assert {m["segmentSettings"]["segmentDuration"] for m in cfg["muxStreams"] if "segmentSettings" in m} == {"6s"}
    assert {es["videoStream"]["h264"]["gopDuration"] for es in cfg["elementaryStreams"] if "videoStream" in es} == {
        "2s"
    }
    for bad in (0, -6, 7.3, 61):
        with pytest.raises(ValueError, match="segment_seconds"):
            build(src(1920, 1080), segment_seconds=bad)


def test_frame_rate_capped_at_30_with_downsampling() -> None:
    for fps in (23.976, 30.0, 59.94, 120.0, None):
        cfg = build(src(1920, 1080, fps=fps))
        for es in cfg["elementaryStreams"]:
            if "videoStream" in es:
                h264 = es["videoStream"]["h264"]
                assert h264["frameRate"] == 30.0
                # DOWNSAMPLE keeps every n-th frame, n = ceil(in / 30): 23.976 and 30 pass through unchanged,
                # 59.94 -> 29.97, 120 -> 30; never a 29.97 -> 15 halving of a slightly-off VFR phone clip
                assert h264["frameRateConversionStrategy"] == "DOWNSAMPLE"


def test_every_mux_stream_references_existing_elementary_streams() -> None:
    for source in (src(1920, 1080), src(1920, 1080, audio=False), src(320, 180), src(1080, 1920, rotation=90)):
        cfg = build(source)
        es_keys = [es["key"] for es in cfg["elementaryStreams"]]
        assert len(es_keys) == len(set(es_keys))
        mux_keys = [m["key"] for m in cfg["muxStreams"]]
        assert len(mux_keys) == len(set(mux_keys))
        used = set()
        for mux in cfg["muxStreams"]:
            assert mux["elementaryStreams"]
            assert set(mux["elementaryStreams"]) <= set(es_keys)
            used |= set(mux["elementaryStreams"])
            if mux["container"] == "fmp4":
                assert len(mux["elementaryStreams"]) == 1  # DASH needs one elementary stream per mux stream
        assert used == set(es_keys)  # nothing encoded for nothing


def test_every_manifest_references_existing_mux_streams() -> None:
    cfg = build(src(1920, 1080))
    mux_by_key = {m["key"]: m for m in cfg["muxStreams"]}
    names = {m["fileName"]: m for m in cfg["manifests"]}
    assert set(names) == {"manifest.m3u8", "manifest.mpd"}
    assert names["manifest.m3u8"]["type"] == "HLS" and names["manifest.mpd"]["type"] == "DASH"
    for manifest in cfg["manifests"]:
        assert manifest["muxStreams"]
        for key in manifest["muxStreams"]:
            assert key in mux_by_key
            assert mux_by_key[key]["container"] == "fmp4"  # segmented, never the progressive mp4
    # the same fMP4 segments serve both protocols
    assert names["manifest.m3u8"]["muxStreams"] == names["manifest.mpd"]["muxStreams"]
    assert names["manifest.m3u8"]["muxStreams"][-1] == "audio"


def test_formats_subset() -> None:
    hls_only = build(src(1280, 720), formats={"hls"})
    assert [m["fileName"] for m in hls_only["manifests"]] == ["manifest.m3u8"]
    dash_only = build(src(1280, 720), formats=["DASH"])
    assert [m["fileName"] for m in dash_only["manifests"]] == ["manifest.mpd"]
    with pytest.raises(ValueError, match="formats"):
        build(src(1280, 720), formats={"smooth"})
    with pytest.raises(ValueError, match="formats"):
        build(src(1280, 720), formats=set())


def test_progressive_mp4_is_720p_or_the_highest_below() -> None:
    def progressive(cfg: dict) -> dict:
        (mux,) = [m for m in cfg["muxStreams"] if m["container"] == "mp4"]
        return mux

    mux = progressive(build(src(1920, 1080)))
    assert mux["fileName"] == "progressive.mp4"
    assert mux["elementaryStreams"] == ["es-video-720p", "es-audio"]
    assert "segmentSettings" not in mux
    assert progressive(build(src(960, 540)))["elementaryStreams"] == ["es-video-540p", "es-audio"]
    assert progressive(build(src(320, 180, audio=False)))["elementaryStreams"] == ["es-video-180p"]
    assert progressive(build(src(1920, 800)))["elementaryStreams"] == ["es-video-720p", "es-audio"]


def test_poster_and_storyboard() -> None:
    cfg = build(src(1920, 1080, duration=3000.0))
    sheets = {s["filePrefix"]: s for s in cfg["spriteSheets"]}
    poster, board = sheets["poster"], sheets["storyboard"]
    assert (poster["columnCount"], poster["rowCount"], poster["totalCount"]) == (1, 1, 1)
    assert seconds(poster["startTimeOffset"]) == 300  # 10% in
    assert (poster["spriteWidthPixels"], poster["spriteHeightPixels"]) == (1280, 720)
    assert (board["spriteWidthPixels"], board["spriteHeightPixels"]) == (160, 90)
    assert (board["columnCount"], board["rowCount"]) == (10, 10)
    assert seconds(board["interval"]) == 10
    assert "totalCount" not in board  # one extraction strategy only (a proto oneof)

    portrait = {s["filePrefix"]: s for s in build(src(1080, 1920, duration=None))["spriteSheets"]}
    assert (portrait["storyboard"]["spriteWidthPixels"], portrait["storyboard"]["spriteHeightPixels"]) == (160, 284)
    assert (portrait["poster"]["spriteWidthPixels"], portrait["poster"]["spriteHeightPixels"]) == (720, 1280)
    assert "startTimeOffset" not in portrait["poster"]


@pytest.mark.parametrize(("duration", "interval"), [(None, 10), (30.0, 2), (600.0, 2), (900.0, 3), (5400.0, 10)])
def test_storyboard_interval_from_duration(duration: float | None, interval: int) -> None:
    assert storyboard_interval_seconds(duration) == interval


def test_inputs_output_and_pubsub() -> None:
    cfg = build_job_config(
        src(1280, 720), input_uri="gs://in/a.mov", output_uri="gs://out/videos/abc", pubsub_topic=TOPIC
    )
    assert cfg["inputs"] == [{"key": "input0", "uri": "gs://in/a.mov"}]
    assert cfg["editList"] == [{"key": "atom0", "inputs": ["input0"]}]
    assert cfg["output"] == {"uri": "gs://out/videos/abc/"}
    assert cfg["pubsubDestination"] == {"topic": TOPIC}
    for kwargs in (
        {"input_uri": "https://x/a.mp4"},
        {"output_uri": "/tmp/out/"},
        {"pubsub_topic": "transcode-events"},
    ):
        args = {"input_uri": "gs://in/a.mov", "output_uri": "gs://out/", "pubsub_topic": TOPIC, **kwargs}
        with pytest.raises(ValueError):
            build_job_config(src(1280, 720), **args)


# --------------------------------------------------------------------------------------------------------------------
# the official client accepts it


@pytest.mark.parametrize(
    "source",
    [
        src(1920, 1080),
        src(1080, 1920, rotation=90),
        src(320, 180, audio=False, duration=None),
        src(853, 479, channels=1),
        src(3840, 2160),
        src(1920, 1080, hdr="hlg"),
    ],
    ids=["1080p", "rotated", "tiny-silent", "odd-mono", "4k", "hdr-hlg"],
)
def test_accepted_by_the_official_proto_class(source: SourceInfo) -> None:
    cfg = build(source)
    message = transcoder_v1.JobConfig.from_json(json.dumps(cfg))  # strict: unknown fields raise
    assert [m.key for m in message.mux_streams] == [m["key"] for m in cfg["muxStreams"]]
    assert message.mux_streams[0].segment_settings.segment_duration.total_seconds() == 6
    assert message.manifests[0].type_ in (
        transcoder_v1.Manifest.ManifestType.HLS,
        transcoder_v1.Manifest.ManifestType.DASH,
    )
    first_video = message.elementary_streams[0].video_stream.h264
    assert first_video.gop_duration.total_seconds() == 2
    assert (
        first_video.frame_rate_conversion_strategy == transcoder_v1.VideoStream.FrameRateConversionStrategy.DOWNSAMPLE
    )
    job = transcoder_v1.Job(config=to_proto(cfg))
    assert job.config.pubsub_destination.topic == TOPIC
    assert len(job.config.sprite_sheets) == 2
    assert rendition_names(cfg) == [r.name for r in plan_renditions(source)]


# --------------------------------------------------------------------------------------------------------------------
# helpers


def test_estimate_minutes() -> None:
    hour_1080 = estimate_minutes(src(1920, 1080, duration=3600.0))
    hour_360 = estimate_minutes(src(640, 360, duration=3600.0))
    short = estimate_minutes(src(1920, 1080, duration=60.0))
    unknown = estimate_minutes(src(1920, 1080, duration=None))
    assert isinstance(hour_1080, int)
    assert 1 <= short < hour_360 < hour_1080 == unknown


def test_rejects_sources_without_video() -> None:
    broken = replace(src(1920, 1080), width=0, height=0, has_video=False)
    with pytest.raises(UnsupportedSource):
        build(broken)


def test_check_transcodable() -> None:
    check_transcodable(src(3840, 2160))
    check_transcodable(src(1080, 1920, rotation=90, duration=None))
    with pytest.raises(UnsupportedSource, match="4096"):
        check_transcodable(src(7680, 4320))
    with pytest.raises(UnsupportedSource, match="at least"):
        check_transcodable(src(1920, 1080, duration=2.0))


# --------------------------------------------------------------------------------------------------------------------
# sources as broadcasters and fans deliver them (docs/decisions/0007-accepted-sources.md)


def video_settings(cfg: dict) -> list[dict]:
    return [es["videoStream"]["h264"] for es in cfg["elementaryStreams"] if "videoStream" in es]


def audio_stream(cfg: dict) -> dict:
    (audio,) = [es["audioStream"] for es in cfg["elementaryStreams"] if "audioStream" in es]
    return audio


def downmix_matrix(audio: dict, in_channels: int) -> list[list[float]]:
    """The linear gain of every input channel in each output channel, from the mapping."""
    matrix = [[0.0] * in_channels for _ in range(audio["channelCount"])]
    for m in audio["mapping"]:
        assert (m["atomKey"], m["inputKey"], m["inputTrack"]) == ("atom0", "input0", 1)
        matrix[m["outputChannel"]][m["inputChannel"]] += 10 ** (m["gainDb"] / 20)
    return matrix


@pytest.mark.parametrize(
    ("fps", "field_order", "mode", "parity"),
    [
        (29.97, "tff", "send_frame", "tff"),  # 1080i29.97: 59.94 fields/s > the 30 fps cap
        (25.0, "bff", "send_frame", "bff"),  # 1080i25 / 576i
        (29.97, None, "send_frame", "auto"),  # field order unknown: the filter detects it
        (15.0, "tff", "send_field", "tff"),  # 30 fields/s fit under the cap: one frame per field
    ],
)
def test_interlaced_source_is_deinterlaced_with_bwdif(fps: float, field_order: str | None, mode: str,
                                                      parity: str) -> None:
    cfg = build(src(1920, 1080, fps=fps, scan_type="interlaced", field_order=field_order))
    (video_input,) = [i for i in cfg["inputs"] if i["key"] == "input0"]
    assert video_input["preprocessingConfig"] == {"deinterlace": {"bwdif": {"mode": mode, "parity": parity}}}
    message = to_proto(cfg)
    bwdif = message.inputs[0].preprocessing_config.deinterlace.bwdif
    assert (bwdif.mode, bwdif.parity) == (mode, parity)
    # every rung at the capped frame rate: 29.97 fields-paired frames stay 29.97p, never halved to 15
    assert {h["frameRate"] for h in video_settings(cfg)} == {30.0}


def test_progressive_source_is_not_deinterlaced() -> None:
    cfg = build(src(1920, 1080, fps=25.0))
    assert "preprocessingConfig" not in cfg["inputs"][0]


def test_anamorphic_hdv_source_gets_square_pixel_16_9_rungs() -> None:
    """1440x1080 stored with SAR 4:3 is shown 1920x1080: the probe reports the display size, the rungs are 16:9."""
    source = src(1920, 1080, coded_width=1440, coded_height=1080, sample_aspect_ratio=Fraction(4, 3))
    cfg = build(source)
    assert rendition_names(cfg) == ["360p", "720p", "1080p"]
    assert video_sizes(cfg) == [(640, 360), (1280, 720), (1920, 1080)]


def test_anamorphic_dv_source_keeps_4_3_without_upscaling() -> None:
    """DV 720x480 SAR 8:9 is shown 4:3 (640x480): a 480x360 rung and one at the display size, nothing larger."""
    source = src(640, 480, fps=29.97, coded_width=720, coded_height=480, sample_aspect_ratio=Fraction(8, 9),
                 scan_type="interlaced", field_order="bff")
    cfg = build(source)
    assert rendition_names(cfg) == ["360p", "480p"]
    assert video_sizes(cfg) == [(480, 360), (640, 480)]
    for w, h in video_sizes(cfg):
        assert w / h == pytest.approx(4 / 3, abs=0.01)
    assert cfg["inputs"][0]["preprocessingConfig"]["deinterlace"]["bwdif"]["parity"] == "bff"


def test_51_audio_is_downmixed_to_stereo_by_bs775() -> None:
    cfg = build(src(1920, 1080, channels=6))
    audio = audio_stream(cfg)
    assert (audio["channelCount"], audio["channelLayout"], audio["codec"]) == (2, ["fl", "fr"], "aac")
    assert audio["bitrateBps"] == AUDIO_BITRATE_BPS
    g = math.sqrt(0.5)
    # decoded order FL FR FC LFE SL SR: L = FL + C/sqrt2 + SL/sqrt2, R = FR + C/sqrt2 + SR/sqrt2, LFE dropped
    expected = [[1, 0, g, 0, g, 0], [0, 1, g, 0, 0, g]]
    for got, want in zip(downmix_matrix(audio, 6), expected, strict=True):
        assert got == pytest.approx(want, abs=1e-4)
    assert {m["inputChannel"] for m in audio["mapping"]} == {0, 1, 2, 4, 5}  # every channel but LFE, none twice
    to_proto(cfg)


def test_71_audio_is_downmixed_to_stereo() -> None:
    audio = audio_stream(build(src(1920, 1080, channels=8)))
    g = math.sqrt(0.5)
    # FL FR FC LFE BL BR SL SR
    expected = [[1, 0, g, 0, g, 0, g, 0], [0, 1, g, 0, 0, g, 0, g]]
    for got, want in zip(downmix_matrix(audio, 8), expected, strict=True):
        assert got == pytest.approx(want, abs=1e-4)


def test_dual_mono_plays_the_first_programme_on_both_channels() -> None:
    audio = audio_stream(build(src(1920, 1080, channels=2, audio_dual_mono=True)))
    assert audio["channelCount"] == 2
    assert downmix_matrix(audio, 2) == [[1.0, 0.0], [1.0, 0.0]]  # never the second language mixed over the first


def test_plain_stereo_and_mono_have_no_mapping() -> None:
    assert "mapping" not in audio_stream(build(src(1920, 1080, channels=2)))
    mono = audio_stream(build(src(1920, 1080, channels=1)))
    assert "mapping" not in mono and (mono["channelCount"], mono["channelLayout"]) == (1, ["fc"])


def test_several_audio_tracks_use_the_first_one() -> None:
    stereo = audio_stream(build(src(1920, 1080, channels=2, audio_tracks=3)))
    assert downmix_matrix(stereo, 2) == [[1.0, 0.0], [0.0, 1.0]]
    mono = audio_stream(build(src(1920, 1080, channels=1, audio_tracks=2)))
    assert (mono["channelCount"], downmix_matrix(mono, 1)) == (1, [[1.0]])


@pytest.mark.parametrize("fps", [24000 / 1001, 25.0, 30000 / 1001, 50.0, 60000 / 1001])
@pytest.mark.parametrize("segment", [6.0, 4.0])
def test_every_frame_rate_gets_one_output_rate_and_aligned_gops(fps: float, segment: float) -> None:
    cfg = build(src(1920, 1080, fps=fps), segment_seconds=segment)
    settings = video_settings(cfg)
    assert {(h["frameRate"], h["frameRateConversionStrategy"]) for h in settings} == {(30.0, "DOWNSAMPLE")}
    out_fps = fps / math.ceil(fps / 30.0 - 1e-9)  # DOWNSAMPLE keeps every n-th frame
    assert out_fps == pytest.approx({23.976: 23.976, 25.0: 25.0, 29.97: 29.97, 50.0: 25.0, 59.94: 29.97}[
        round(fps, 3)], abs=0.001)
    gops = {seconds(h["gopDuration"]) for h in settings}
    assert len(gops) == 1  # the same keyframe times in every rung
    (gop,) = gops
    for mux in cfg["muxStreams"]:
        if "segmentSettings" in mux:
            assert (seconds(mux["segmentSettings"]["segmentDuration"]) / gop).denominator == 1


@pytest.mark.parametrize(("average", "rate"), [(None, 30.0), (29.8, 29.97), (29.6, 30.0), (30.2, 30.0),
                                               (24.1, 24.0), (23.9, 23.976), (25.2, 25.0), (20.339, 30.0),
                                               (58.0, 30.0), (12.0, 30.0)])
def test_variable_frame_rate_source_gets_a_constant_rate(average: float | None, rate: float) -> None:
    cfg = build(src(1080, 1920, fps=average, frame_rate_mode="vfr", rotation=90))
    assert {(h["frameRate"], h["frameRateConversionStrategy"]) for h in video_settings(cfg)} == {
        (rate, "DROP_DUPLICATE")
    }
    to_proto(cfg)


def test_10_bit_source_comes_out_8_bit_h264_high() -> None:
    cfg = build(src(1920, 1080, bit_depth=10))
    for h in video_settings(cfg):
        assert (h["pixelFormat"], h["profile"]) == ("yuv420p", "high")
    assert to_proto(cfg).elementary_streams[0].video_stream.h264.pixel_format == "yuv420p"


def test_transcodable_limit_is_on_the_stored_size_not_the_display_size() -> None:
    # 3840x2160 stored with SAR 4:3 is shown 5120x2160; the API reads 3840 pixels a row
    check_transcodable(src(5120, 2160, coded_width=3840, coded_height=2160, sample_aspect_ratio=Fraction(4, 3)))
    with pytest.raises(UnsupportedSource, match="4096"):
        check_transcodable(src(4000, 2160, coded_width=5000, coded_height=2160, sample_aspect_ratio=Fraction(4, 5)))


# --------------------------------------------------------------------------------------------------------------------
# captions


SUBS = (
    SubtitleInput("ko", "한국어", "gs://kstream-sources/v1/subtitles/ko.vtt"),
    SubtitleInput("en-US", "English", "gs://kstream-sources/v1/subtitles/en-US.vtt"),
)


def test_subtitles_become_caption_inputs_text_streams_and_vtt_renditions() -> None:
    cfg = build(src(1920, 1080), subtitles=SUBS)
    assert cfg["inputs"][1:] == [
        {"key": "caption-0", "uri": SUBS[0].uri},
        {"key": "caption-1", "uri": SUBS[1].uri},
    ]
    assert cfg["editList"] == [{"key": "atom0", "inputs": ["input0", "caption-0", "caption-1"]}]
    text = {es["key"]: es["textStream"] for es in cfg["elementaryStreams"] if "textStream" in es}
    assert text == {
        "es-text-ko": {"codec": "webvtt", "languageCode": "ko", "displayName": "한국어",
                       "mapping": [{"atomKey": "atom0", "inputKey": "caption-0"}]},
        "es-text-en-us": {"codec": "webvtt", "languageCode": "en-US", "displayName": "English",
                          "mapping": [{"atomKey": "atom0", "inputKey": "caption-1"}]},
    }
    mux = {m["key"]: m for m in cfg["muxStreams"]}
    video_segments = mux["video-1080p"]["segmentSettings"]
    for track, es_key in zip(SUBS, text, strict=True):
        key = subtitle_mux_key(track.language)
        assert mux[key] == {"key": key, "container": "vtt", "elementaryStreams": [es_key],
                            "segmentSettings": video_segments}
    assert subtitle_mux_key("en-US") == "subtitles-en-us"  # the stream function finds subtitles-en-us.m3u8
    manifests = {m["type"]: m["muxStreams"] for m in cfg["manifests"]}
    assert manifests["HLS"][-2:] == ["subtitles-ko", "subtitles-en-us"]
    assert not any(k.startswith("subtitles-") for k in manifests["DASH"])  # vtt muxes are documented for HLS
    assert rendition_names(cfg) == ["360p", "720p", "1080p"]
    message = to_proto(cfg)
    assert [s.text_stream.language_code for s in message.elementary_streams if s.text_stream.codec] == ["ko", "en-US"]


def test_no_subtitles_changes_nothing() -> None:
    assert build(src(1920, 1080), subtitles=()) == build(src(1920, 1080))


@pytest.mark.parametrize(
    ("tracks", "message"),
    [
        ((SubtitleInput("ko", "한국어", "gs://b/a.vtt"), SubtitleInput("KO", "Korean", "gs://b/b.vtt")), "twice"),
        ((SubtitleInput("korean!", "한국어", "gs://b/a.vtt"),), "BCP 47"),
        ((SubtitleInput("", "x", "gs://b/a.vtt"),), "BCP 47"),
        ((SubtitleInput("en", "English", "https://example.com/en.vtt"),), "gs://"),
        ((SubtitleInput("en", " ", "gs://b/en.vtt"),), "label"),
        (("en",), "SubtitleInput"),
        (tuple(SubtitleInput(f"x{i:02d}"[:3], "x", "gs://b/x.vtt") for i in range(21)), "at most"),
    ],
)
def test_bad_subtitle_inputs_are_refused(tracks: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(src(1920, 1080), subtitles=tracks)


# --------------------------------------------------------------------------------------------------------------------
# the corpus samples, as the probe describes them (tests/media_corpus.py)


def from_expected(name: str) -> SourceInfo:
    e = SAMPLES[name].expected
    return SourceInfo(
        width=e.width, height=e.height, duration_seconds=e.duration, has_audio=e.audio_tracks > 0, has_video=True,
        container=e.container, video_codec=e.video_codec, frame_rate=e.frame_rate, rotation=e.rotation,
        audio_codec=e.audio_codec, audio_channels=e.audio_channels, sample_aspect_ratio=e.sample_aspect_ratio,
        coded_width=e.coded_width, coded_height=e.coded_height, scan_type=e.scan_type, field_order=e.field_order,
        bit_depth=e.bit_depth, frame_rate_mode=e.frame_rate_mode, audio_tracks=e.audio_tracks,
        audio_channel_layout=None, audio_dual_mono=e.audio_dual_mono,
    )


ACCEPTED = sorted(name for name, sample in SAMPLES.items() if sample.expected.refused is None)


@pytest.mark.parametrize("name", ACCEPTED)
def test_every_accepted_corpus_sample_gets_a_config_the_api_accepts(name: str) -> None:
    source = from_expected(name)
    cfg = build(source)
    to_proto(cfg)
    for r in plan_renditions(source):
        assert r.width <= source.width and r.height <= source.height  # never above the display size
        assert r.width / r.height == pytest.approx(source.width / source.height, abs=0.02)
    assert ("preprocessingConfig" in cfg["inputs"][0]) == (source.scan_type == "interlaced")
    if source.has_audio:
        audio = audio_stream(cfg)
        assert audio["channelCount"] == (1 if source.audio_channels == 1 else 2)
        assert ("mapping" in audio) == (source.audio_channels == 6 or source.audio_dual_mono)
    strategies = {h["frameRateConversionStrategy"] for h in video_settings(cfg)}
    assert strategies == {"DROP_DUPLICATE" if source.frame_rate_mode == "vfr" else "DOWNSAMPLE"}
