"""Pure tests of the local Transcoder: JobConfig validation/defaults, the ffmpeg plan, manifest helpers."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest

from local_emulator.transcoder.config import (
    format_duration,
    is_multiple,
    normalize_job,
    normalize_template,
    parse_duration,
)
from local_emulator.transcoder.errors import ApiError
from local_emulator.transcoder.ffmpeg_plan import (
    build_plan,
    output_frame_rate,
    output_size,
)
from local_emulator.transcoder.manifests import parse_media_playlist, video_codec_string
from local_emulator.transcoder.probe import SourceInfo
from local_emulator.transcoder.server import render_enums

PARENT = "projects/p/locations/us-central1"
IN, OUT = "gs://media/in/video.mp4", "gs://media/out/"

CONFIG = {
    "elementaryStreams": [
        {"key": "v1080", "videoStream": {"h264": {"heightPixels": 1080, "bitrateBps": 5000000, "frameRate": 30,
                                                  "gopDuration": "2s"}}},
        {"key": "v720", "videoStream": {"h264": {"heightPixels": 720, "bitrateBps": 2500000, "frameRate": 30,
                                                 "gopDuration": "2s"}}},
        {"key": "v360", "videoStream": {"h264": {"heightPixels": 360, "bitrateBps": 800000, "frameRate": 30,
                                                 "gopDuration": "2s"}}},
        {"key": "audio", "audioStream": {"codec": "aac", "bitrateBps": 128000}},
    ],
    "muxStreams": [
        {"key": f"f{h}", "container": "fmp4", "elementaryStreams": [f"v{h}"],
         "segmentSettings": {"segmentDuration": "6s", "individualSegments": True}} for h in (1080, 720, 360)
    ] + [
        {"key": "fa", "container": "fmp4", "elementaryStreams": ["audio"]},
        {"key": "ts360", "container": "ts", "elementaryStreams": ["v360", "audio"]},
    ],
    "manifests": [
        {"type": "DASH", "muxStreams": ["f1080", "f720", "f360", "fa"]},
        {"type": "HLS", "muxStreams": ["f1080", "f720", "f360", "fa"]},
        {"type": "HLS", "fileName": "ts.m3u8", "muxStreams": ["ts360"]},
    ],
    "spriteSheets": [{"filePrefix": "sprite", "spriteWidthPixels": 160, "columnCount": 10, "rowCount": 10,
                      "interval": "10s"}],
}


def job(config=None, **fields):
    body = {"inputUri": IN, "outputUri": OUT}
    if config is not None:
        body["config"] = copy.deepcopy(config)
    body.update(fields)
    return normalize_job(body, {}, PARENT)


def error_of(config=None, **fields) -> ApiError:
    with pytest.raises(ApiError) as caught:
        job(config, **fields)
    return caught.value


def patched(**changes):
    config = copy.deepcopy(CONFIG)
    for path, value in changes.items():
        target = config
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return config


# ------------------------------------------------------------------------------------------------ durations


def test_durations():
    assert parse_duration("6s", "f") == 6.0
    assert parse_duration("2.5s", "f") == 2.5
    assert parse_duration({"seconds": 3, "nanos": 500000000}, "f") == 3.5
    assert format_duration(6.0) == "6s" and format_duration(2.5) == "2.500s"
    assert is_multiple(6, 2) and is_multiple(6, 3) and is_multiple(0.6, 0.2) and not is_multiple(6, 4)
    with pytest.raises(ApiError, match="field"):
        parse_duration("six", "field")


# ------------------------------------------------------------------------------------------------ defaults


def test_no_config_and_no_template_means_preset_web_hd_with_uris_filled():
    out = job()
    config = out["config"]
    assert config["inputs"] == [{"key": "input0", "uri": IN}]
    assert config["output"] == {"uri": OUT}
    assert [m["key"] for m in config["muxStreams"]] == ["sd", "hd", "media-sd", "media-hd", "video-only-sd",
                                                       "video-only-hd", "audio-only"]
    assert [(m["type"], m["fileName"]) for m in config["manifests"]] == [("HLS", "manifest.m3u8"),
                                                                        ("DASH", "manifest.mpd")]
    hd = config["elementaryStreams"][1]["videoStream"]["h264"]
    assert (hd["widthPixels"], hd["heightPixels"], hd["bitrateBps"], hd["gopDuration"]) == (1280, 720, 2500000,
                                                                                            "3s")
    assert out["ttlAfterCompletionDays"] == 30
    assert job(templateId="preset/web-hd")["config"] == config


def test_defaults_are_filled_like_the_api_does():
    config = job(CONFIG)["config"]
    h264 = config["elementaryStreams"][0]["videoStream"]["h264"]
    assert {k: h264[k] for k in ("pixelFormat", "rateControlMode", "crfLevel", "vbvSizeBits", "vbvFullnessBits",
                                 "entropyCoder", "profile", "preset")} == {
        "pixelFormat": "yuv420p", "rateControlMode": "vbr", "crfLevel": 21, "vbvSizeBits": 5000000,
        "vbvFullnessBits": 4500000, "entropyCoder": "cabac", "profile": "high", "preset": "veryfast"}
    audio = config["elementaryStreams"][3]["audioStream"]
    assert (audio["channelCount"], audio["channelLayout"], audio["sampleRateHertz"]) == (2, ["fl", "fr"], 48000)
    fa = config["muxStreams"][3]
    assert fa["fileName"] == "fa.m4s" and fa["segmentSettings"] == {"segmentDuration": "6s",
                                                                    "individualSegments": False}
    assert config["muxStreams"][4]["fileName"] == "ts360.ts"
    assert config["manifests"][0] == {"fileName": "manifest.mpd", "type": "DASH",
                                      "muxStreams": ["f1080", "f720", "f360", "fa"],
                                      "dash": {"segmentReferenceScheme": "SEGMENT_LIST"}}
    assert config["spriteSheets"][0]["format"] == "jpeg" and config["spriteSheets"][0]["quality"] == 100
    assert config["editList"] == [{"key": "atom0", "inputs": ["input0"], "startTimeOffset": "0s"}]


def test_snake_case_and_integer_enums_are_accepted():
    snake = {"elementary_streams": [{"key": "v", "video_stream": {"h264": {"height_pixels": 360,
                                                                           "bitrate_bps": 500000,
                                                                           "frame_rate": 30}}}],
             "mux_streams": [{"key": "m", "container": "ts", "elementary_streams": ["v"]}],
             "manifests": [{"type": 1, "mux_streams": ["m"]}]}
    config = job(snake)["config"]
    assert config["manifests"][0]["type"] == "HLS"
    assert config["elementaryStreams"][0]["videoStream"]["h264"]["heightPixels"] == 360
    assert render_enums({"state": "RUNNING", "config": config}, True)["config"]["manifests"][0]["type"] == 1
    assert render_enums({"state": "RUNNING"}, True)["state"] == 2


# ------------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("config, fields, pattern", [
    (patched(muxStreams__0__elementaryStreams=["v9"]), {}, r"muxStreams\[0\]\.elementaryStreams\[0\].*'v9'"),
    (patched(manifests__0__muxStreams=["f1080", "ghost"]), {}, r"manifests\[0\]\.muxStreams\[1\].*'ghost'"),
    (CONFIG, {"inputUri": ""}, r"input_uri"),
    (CONFIG, {"outputUri": ""}, r"output\.uri"),
    (CONFIG, {"inputUri": "s3://bucket/x.mp4"}, r"inputs\[0\]\.uri"),
    (CONFIG, {"outputUri": "gs://media/out"}, r"output\.uri.*'/'"),
    (CONFIG, {"outputUri": "gs://media/"}, r"output\.uri.*top-level bucket"),
    (patched(muxStreams__0__segmentSettings={"segmentDuration": "5s"}), {},
     r"muxStreams\[0\]\.segmentSettings\.segmentDuration.*divisible"),
    (patched(muxStreams__0__segmentSettings={"segmentDuration": "1s"}), {}, r"greater than or equal"),
    (patched(muxStreams__1__container="avi"), {}, r"muxStreams\[1\]\.container.*'avi'"),
    (patched(elementaryStreams__0__videoStream={"h264": {"heightPixels": 361, "bitrateBps": 1000,
                                                         "frameRate": 30}}), {}, r"heightPixels.*even"),
    (patched(elementaryStreams__0__videoStream={"h264": {"bitrateBps": 1000, "frameRate": 240}}), {},
     r"frameRate"),
    (patched(elementaryStreams__0__videoStream={"h264": {"frameRate": 30}}), {}, r"bitrateBps is required"),
    (patched(elementaryStreams__1__key="v1080"), {}, r"elementaryStreams\[1\]\.key.*duplicate"),
    (patched(manifests__0__muxStreams=["ts360"]), {}, r"manifests\[0\]\.muxStreams\[0\].*DASH"),
    (patched(muxStreams__4__elementaryStreams=["v360", "v720"]), {}, r"muxStreams\[4\]\.elementaryStreams"),
    (patched(manifests__2__muxStreams=["f1080", "ts360"], manifests__2__fileName="manifest.m3u8"), {},
     r"manifests\[2\]\.fileName"),
    (patched(spriteSheets__0__totalCount=5), {}, r"spriteSheets\[0\].*totalCount and interval"),
    (patched(pubsubDestination={"topic": "my-topic"}), {}, r"pubsubDestination\.topic"),
    (CONFIG, {"templateId": "preset/web-hd"}, r"mutually exclusive"),
    (None, {"templateId": "missing"}, r"template_id.*'missing'"),
    (patched(manifests__0__type="SMOOTH"), {}, r"manifests\[0\]\.type"),
])
def test_invalid_configs_name_the_field(config, fields, pattern):
    error = error_of(config, **fields)
    assert error.status == "INVALID_ARGUMENT" and error.http_code == 400
    assert __import__("re").search(pattern, error.message), error.message
    assert error.http_body() == {"error": {"code": 400, "message": error.message, "status": "INVALID_ARGUMENT"}}


def test_valid_but_unimplemented_features_answer_501():
    error = error_of(patched(elementaryStreams__0__videoStream={"h264": {"bitrateBps": 1000, "frameRate": 30,
                                                                         "pixelFormat": "yuv444p12"}}))
    assert error.status == "UNIMPLEMENTED" and error.http_code == 501
    assert "videoStream.h264.pixelFormat" in error.message


def test_templates():
    template = normalize_template({"config": CONFIG}, "ladder-1080")
    assert "uri" not in template["config"]["output"] and "uri" not in template["config"]["inputs"][0]
    with pytest.raises(ApiError, match="job_template_id"):
        normalize_template({"config": CONFIG}, "x")
    from_template = normalize_job({"inputUri": IN, "outputUri": OUT, "templateId": "ladder-1080"},
                                  {f"{PARENT}/jobTemplates/ladder-1080": template}, PARENT)
    assert from_template["config"]["inputs"][0]["uri"] == IN and from_template["config"]["output"]["uri"] == OUT


# ------------------------------------------------------------------------------------------------ plan

LANDSCAPE = SourceInfo(duration=60.0, has_video=True, width=1920, height=1080, frame_rate=Fraction(30),
                       has_audio=True, audio_channels=2, audio_sample_rate=44100)
PORTRAIT_SILENT = SourceInfo(duration=10.0, has_video=True, width=1080, height=1920, frame_rate=Fraction(60))


def test_frame_rate_never_exceeds_input_and_divides_it():
    assert output_frame_rate(Fraction(30), 60) == 30
    assert output_frame_rate(Fraction(60), 30) == 30
    assert output_frame_rate(Fraction(25), 30) == 25
    assert output_frame_rate(Fraction(30), 24) == 15
    assert output_frame_rate(Fraction(30000, 1001), 30) == Fraction(30000, 1001)


def test_output_size_keeps_aspect_and_portrait():
    assert output_size({"heightPixels": 720}, LANDSCAPE) == (1280, 720)
    assert output_size({"heightPixels": 360}, PORTRAIT_SILENT) == (202, 360)
    assert output_size({"widthPixels": 360}, PORTRAIT_SILENT) == (360, 640)
    assert output_size({}, LANDSCAPE) == (1920, 1080)
    rotated = SourceInfo(duration=5, has_video=True, width=1920, height=1080, rotation=90, frame_rate=Fraction(30))
    assert output_size({"widthPixels": 1280, "heightPixels": 720}, rotated) == (720, 1280)
    assert output_size({"heightPixels": 720}, rotated) == (720, 1280)


def test_one_ffmpeg_process_decodes_once_for_the_whole_ladder():
    plan = build_plan(job(CONFIG)["config"], LANDSCAPE, "/tmp/in.mp4")
    argv = plan.argv
    assert argv[0] == "ffmpeg" and argv.count("-i") == 1 and argv.count("-filter_complex") == 1
    graph = argv[argv.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]split=4[s0][s1][s2][s3]")  # 3 rungs + 1 sprite sheet branch
    assert "scale=1920:1080" in graph and "scale=1280:720" in graph and "scale=640:360" in graph
    assert "fps=fps=1/10" in graph and "tile=6x1" in " ".join(plan.sprites[0].tile_argv)  # one row of 6
    tee = argv[argv.index("tee") + 1].split("|")
    assert len(tee) == 5 and argv.count("-f") == 2  # the tee output + one image2 output per sprite sheet
    assert argv.count("0:a:0") == 1  # one AAC encode shared by the mux streams that name it
    for i in range(3):
        assert argv[argv.index(f"-g:v:{i}") + 1] == "60"  # 30 fps x 2 s GOP
        assert argv[argv.index(f"-force_key_frames:v:{i}") + 1] == "expr:gte(t,n_forced*2)"
        assert argv[argv.index(f"-sc_threshold:v:{i}") + 1] == "0"
    f1080 = next(s for s in tee if s.endswith("]f1080.m3u8"))
    assert "hls_time=6" in f1080 and "hls_segment_type=fmp4" in f1080 and "f1080%010d.m4s" in f1080
    fa = next(s for s in tee if s.endswith("]fa.m3u8"))
    assert "single_file" in fa and "hls_segment_filename=fa.m4s" in fa
    assert [m.key for m in plan.muxes] == ["f1080", "f720", "f360", "fa", "ts360"]
    assert plan.output_duration == 60.0 and plan.expected_frames == 1800  # progress: frames of rung 0


def test_missing_audio_is_skipped_or_fails_on_request():
    plan = build_plan(job(CONFIG)["config"], PORTRAIT_SILENT, "/tmp/in.mp4")
    assert "0:a:0" not in plan.argv
    assert [m.key for m in plan.muxes] == ["f1080", "f720", "f360", "ts360"]
    assert plan.manifests[0]["muxStreams"] == ["f1080", "f720", "f360"]
    assert next(m for m in plan.muxes if m.key == "ts360").audio is None
    assert (plan.muxes[0].video.width, plan.muxes[0].video.height) == (608, 1080)
    assert plan.notes
    with pytest.raises(ApiError, match="no audio track"):
        build_plan(job(CONFIG)["config"], PORTRAIT_SILENT, "/tmp/in.mp4", missing_audio="fail")


def test_edit_atom_offsets_become_input_seek():
    config = job(CONFIG)["config"]
    config["editList"][0].update(startTimeOffset="10s", endTimeOffset="40s")
    plan = build_plan(config, LANDSCAPE, "/tmp/in.mp4")
    assert plan.argv[plan.argv.index("-ss") + 1] == "10" and plan.argv[plan.argv.index("-to") + 1] == "40"
    assert plan.output_duration == 30.0


def test_poster_is_a_single_sprite():
    config = job({**CONFIG, "spriteSheets": [{"filePrefix": "poster", "spriteHeightPixels": 360, "totalCount": 1,
                                              "columnCount": 1, "rowCount": 1}]})["config"]
    plan = build_plan(config, LANDSCAPE, "/tmp/in.mp4")
    sprite = plan.sprites[0]
    assert (sprite.columns, sprite.rows, sprite.count, sprite.width, sprite.height) == (1, 1, 1, 640, 360)
    assert plan.sprites[0].tile_argv[-1] == "poster%010d.jpeg" and plan.argv[-1].endswith("%06d.png")


# ------------------------------------------------------------------------------------------------ manifests


def test_media_playlist_parsing_and_bandwidth(tmp_path):
    (tmp_path / "v.m4s").write_bytes(b"\x00" * 100 + b"avcC\x01\x64\x00\x1f" + b"\x00" * 3000)
    (tmp_path / "v.m3u8").write_text(
        "#EXTM3U\n#EXT-X-MAP:URI=\"v.m4s\",BYTERANGE=\"900@0\"\n#EXTINF:2.000000,\n#EXT-X-BYTERANGE:1000@900\n"
        "v.m4s\n#EXTINF:2.000000,\n#EXT-X-BYTERANGE:1500@1900\nv.m4s\n#EXTINF:0.5,\n#EXT-X-BYTERANGE:500@3400\n"
        "v.m4s\n#EXT-X-ENDLIST\n")
    playlist = parse_media_playlist(str(tmp_path), "v.m3u8")
    assert playlist.init_range == (900, 0) and [s.offset for s in playlist.segments] == [900, 1900, 3400]
    assert playlist.duration == 4.5
    peak, average = playlist.bandwidths()
    assert peak == 6000 and average == 5334  # 1500 B over 2 s; the short last segment is not a peak

    class Mux:
        container = "fmp4"
        video = type("V", (), {"codec": "h264", "settings": {"profile": "high"}})()

    assert video_codec_string(str(tmp_path), Mux(), playlist) == "avc1.64001f"
