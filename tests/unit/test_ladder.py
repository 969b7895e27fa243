"""ladder: the Transcoder job config built from the probed source."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from google.cloud.video import transcoder_v1
from kstream.transcode.container_probe import SourceInfo, UnsupportedSource
from kstream.transcode.ladder import (
    AUDIO_BITRATE_BPS,
    LADDER,
    build_job_config,
    check_transcodable,
    estimate_minutes,
    gop_seconds_for,
    plan_renditions,
    rendition_names,
    storyboard_interval_seconds,
    to_proto,
)

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
) -> SourceInfo:
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
    ],
    ids=["1080p", "rotated", "tiny-silent", "odd-mono", "4k"],
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
    broken = SourceInfo(width=0, height=0, duration_seconds=10.0, has_audio=True, has_video=False, container="mp4")
    with pytest.raises(UnsupportedSource):
        build(broken)


def test_check_transcodable() -> None:
    check_transcodable(src(3840, 2160))
    check_transcodable(src(1080, 1920, rotation=90, duration=None))
    with pytest.raises(UnsupportedSource, match="4096"):
        check_transcodable(src(7680, 4320))
    with pytest.raises(UnsupportedSource, match="at least"):
        check_transcodable(src(1920, 1080, duration=2.0))
