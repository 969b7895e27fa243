"""Pure tests of the local Transcoder's newer JobConfig sections: preprocessingConfig (validation and filters), audio
mapping (pan), pixelFormat/profile, text streams and vtt mux streams, WebVTT segmentation and CEA-608 encoding."""

from __future__ import annotations

import copy
from fractions import Fraction

import pytest

from local_emulator.transcoder import cea608, nal
from local_emulator.transcoder.captions import Cue, trim, webvtt, write_vtt_mux
from local_emulator.transcoder.config import normalize_job
from local_emulator.transcoder.errors import ApiError
from local_emulator.transcoder.ffmpeg_plan import build_plan
from local_emulator.transcoder.jobconfig.elementary import profile_for
from local_emulator.transcoder.jobconfig.preprocessing import audio_filters, preprocessing_config, video_filters
from local_emulator.transcoder.probe import SourceInfo

PARENT = "projects/p/locations/us-central1"
BASE = {
    "inputs": [{"key": "input0", "uri": "gs://media/in/ep1.ts"}, {"key": "subs", "uri": "gs://media/in/ep1.en.srt"}],
    "editList": [{"key": "atom0", "inputs": ["input0", "subs"]}],
    "elementaryStreams": [
        {"key": "v", "videoStream": {"h264": {"heightPixels": 360, "bitrateBps": 800000, "frameRate": 30}}},
        {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 128000}},
        {"key": "t", "textStream": {"codec": "webvtt", "languageCode": "en", "displayName": "English",
                                    "mapping": [{"atomKey": "atom0", "inputKey": "subs"}]}},
    ],
    "muxStreams": [
        {"key": "ts", "container": "ts", "elementaryStreams": ["v", "a"]},
        {"key": "subs-en", "container": "vtt", "elementaryStreams": ["t"],
         "segmentSettings": {"segmentDuration": "6s", "individualSegments": True}},
    ],
    "manifests": [{"type": "HLS", "muxStreams": ["ts", "subs-en"]}],
}
BROADCAST = SourceInfo(duration=10.0, has_video=True, width=1440, height=1080, frame_rate=Fraction(30000, 1001),
                       has_audio=True, audio_channels=6, audio_sample_rate=48000, sample_aspect=Fraction(4, 3),
                       audio_tracks={1: 6}, interlaced=True)  # track 0 is the picture, track 1 the 5.1 sound


def job(**changes) -> dict:
    config = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = config
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return normalize_job({"outputUri": "gs://media/out/", "config": config}, {}, PARENT)


def error_of(**changes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        job(**changes)
    return caught.value


def test_defaults_of_a_text_stream_and_a_vtt_mux_stream():
    config = job()["config"]
    assert config["elementaryStreams"][2]["textStream"] == {
        "codec": "webvtt", "languageCode": "en", "displayName": "English",
        "mapping": [{"atomKey": "atom0", "inputKey": "subs", "inputTrack": 0}]}
    assert config["muxStreams"][1] == {"key": "subs-en", "fileName": "subs-en.vtt", "container": "vtt",
                                       "elementaryStreams": ["t"],
                                       "segmentSettings": {"segmentDuration": "6s", "individualSegments": True}}


@pytest.mark.parametrize("changes, status, field", [
    ({"muxStreams__1__elementaryStreams": ["a"]}, "INVALID_ARGUMENT", r"muxStreams\[1\]\.elementaryStreams"),
    ({"elementaryStreams__2__textStream__codec": "ttml"}, "INVALID_ARGUMENT",
     r"textStream\.codec: 'ttml' is not an output"),
    ({"elementaryStreams__2__textStream__codec": "cea608"}, "INVALID_ARGUMENT", r"muxStreams\[1\]\.elementaryStreams"),
    ({"elementaryStreams__2__textStream__mapping": []}, "INVALID_ARGUMENT", r"textStream\.mapping"),
    ({"elementaryStreams__2__textStream__languageCode": "english please"}, "INVALID_ARGUMENT",
     r"textStream\.languageCode"),
    ({"elementaryStreams__0__videoStream__h264__pixelFormat": "yuv420p12"}, "UNIMPLEMENTED", r"pixelFormat"),
    ({"elementaryStreams__0__videoStream__h264__pixelFormat": "rgb24"}, "INVALID_ARGUMENT", r"h264\.pixelFormat"),
    ({"elementaryStreams__1__audioStream__mapping": [{"atomKey": "atom0", "inputKey": "input0", "gainDb": 90}]},
     "INVALID_ARGUMENT", r"audioStream\.mapping\[0\]\.gainDb"),
    ({"elementaryStreams__1__audioStream__mapping": [{"atomKey": "atom0"}]}, "INVALID_ARGUMENT",
     r"audioStream\.mapping\[0\]\.inputKey is required"),
    ({"inputs__0__preprocessingConfig": {"crop": {"topPixels": -2}}}, "INVALID_ARGUMENT",
     r"inputs\[0\]\.preprocessingConfig\.crop\.topPixels"),
    ({"inputs__0__preprocessingConfig": {"denoise": {"tune": "film"}}}, "INVALID_ARGUMENT",
     r"preprocessingConfig\.denoise\.tune"),
    ({"inputs__0__preprocessingConfig": {"deinterlace": {"bwdif": {"disableSpatialInterlacing": True}}}},
     "INVALID_ARGUMENT", r"deinterlace\.bwdif"),
    ({"inputs__0__preprocessingConfig": {"sharpen": {}}}, "INVALID_ARGUMENT", r"preprocessingConfig"),
])
def test_bad_values_name_the_field(changes, status, field):
    error = error_of(**changes)
    assert error.status == status
    assert __import__("re").search(field, error.message), error.message


def test_pixel_format_raises_the_profile_as_the_reference_warns():
    assert profile_for("high", "yuv420p") == "high" and profile_for("baseline", "yuv420p10") == "high10"
    assert profile_for("main", "yuv422p") == "high422" and profile_for("high10", "yuv444p10") == "high444"
    h264 = job(elementaryStreams__0__videoStream__h264__pixelFormat="yuv420p10")["config"]["elementaryStreams"][0]
    assert h264["videoStream"]["h264"]["profile"] == "high10"


def test_preprocessing_filters_in_reference_order():
    config = preprocessing_config({
        "deinterlace": {"yadif": {"mode": "send_field", "disableSpatialInterlacing": True, "parity": "tff"}},
        "crop": {"leftPixels": 8, "rightPixels": 8}, "pad": {"topPixels": 4},
        "denoise": {"strength": 0.5}, "deblock": {"strength": 1, "enabled": True},
        "color": {"saturation": 0.5, "contrast": -0.5, "brightness": 0.1}, "audio": {"lufs": -23, "lowBoost": True},
    }, "job.config.inputs[0].preprocessingConfig")
    assert video_filters(config) == [
        "yadif=mode=send_field_nospatial:parity=tff:deint=interlaced", "crop=iw-16:ih-0:8:0",
        "hqdn3d=luma_spatial=4:chroma_spatial=3:luma_tmp=6:chroma_tmp=4.5",
        "deblock=filter=strong:block=8:alpha=1:beta=0.5:gamma=0.5:delta=0.5",
        "eq=contrast=0.5:brightness=0.1:saturation=1.5", "pad=iw+0:ih+4:0:4:color=black"]
    assert audio_filters(config) == ["loudnorm=I=-23:TP=-1.5:LRA=11", "bass=g=6"]
    assert video_filters(preprocessing_config({"deinterlace": {"bwdif": {"deinterlaceAllFrames": True}}}, "p")) == [
        "bwdif=mode=send_frame:parity=auto:deint=all"]
    assert video_filters(preprocessing_config({"deblock": {"strength": 1}}, "p")) == []  # enabled defaults to false


def test_plan_deinterlaces_at_field_rate_downmixes_with_pan_and_shows_display_aspect():
    config = job(**{
        "inputs__0__preprocessingConfig": {"deinterlace": {"bwdif": {"mode": "send_field"}}},
        "elementaryStreams__0__videoStream__h264__frameRate": 60,
        "elementaryStreams__1__audioStream__channelLayout": ["fl", "fr"],
        "elementaryStreams__1__audioStream__mapping": [
            {"atomKey": "atom0", "inputKey": "input0", "inputTrack": 1, "inputChannel": c, "outputChannel": o,
             "gainDb": g} for c, o, g in ((0, 0, 0), (1, 1, 0), (2, 0, -3), (2, 1, -3))]})["config"]
    plan = build_plan(config, BROADCAST, "/work/in.ts", texts={"t": [Cue(1, 2, "Hi")]})
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    assert graph.startswith("[0:v:0]bwdif=mode=send_field:parity=auto:deint=interlaced[s0];")
    assert "fps=60000/1001,scale=640:360,setsar=1,format=yuv420p" in graph  # 1440x1080 at 4:3 SAR is 16:9
    assert "[0:1]anull[am0_0];[am0_0]pan=FL+FR|c0=1*c0+0.707946*c2|c1=1*c1+0.707946*c2[aout0]" in graph
    assert "-ac:a:0" not in plan.argv and plan.argv.count("-i") == 1
    vtt = next(m for m in plan.muxes if m.key == "subs-en")
    assert vtt.text.cues == [Cue(1, 2, "Hi")] and vtt.segmented and vtt.individual_segments
    assert "subs-en" not in plan.argv[-1]  # text never reaches ffmpeg's tee


def test_mapping_a_missing_track_fails_naming_the_mapping():
    # inputTrack counts every track of the file (the v1 reference; Google's examples map track 1 of a video file):
    # track 0 here is the picture, so mapping it is an error
    config = job(elementaryStreams__1__audioStream__mapping=[
        {"atomKey": "atom0", "inputKey": "input0", "inputTrack": 0, "inputChannel": 0, "outputChannel": 0}])["config"]
    with pytest.raises(ApiError, match=r"elementaryStreams\[1\]\.audioStream\.mapping\[0\]\.inputTrack"):
        build_plan(config, BROADCAST, "/work/in.ts")


def test_edit_atom_trim_moves_cues_to_the_output_timeline():
    cues = [Cue(1, 3, "a"), Cue(4, 6, "b"), Cue(9, 12, "c")]
    assert trim(cues, 2.0, 10.0) == [Cue(0, 1, "a"), Cue(2, 4, "b"), Cue(7, 8, "c")]


def test_vtt_segments_repeat_a_cue_across_a_boundary(tmp_path):
    cues = [Cue(0.5, 1.5, "one"), Cue(5.5, 6.5, "two <b>&</b>"), Cue(13, 14, "three")]
    out = write_vtt_mux(str(tmp_path), "subs-en", "subs-en.vtt", cues, 14.0, 6.0, True, 126000)
    assert out.files == ["subs-en0000000000.vtt", "subs-en0000000001.vtt", "subs-en0000000002.vtt"]
    second = (tmp_path / "subs-en0000000001.vtt").read_text()
    assert second == ("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n"
                      "00:00:05.500 --> 00:00:06.500\ntwo &lt;b&gt;&amp;&lt;/b&gt;\n\n")
    assert (tmp_path / "subs-en.m3u8").read_text().splitlines() == [
        "#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:6", "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD", "#EXTINF:6.000000,", "subs-en0000000000.vtt", "#EXTINF:6.000000,",
        "subs-en0000000001.vtt", "#EXTINF:2.000000,", "subs-en0000000002.vtt", "#EXT-X-ENDLIST"]
    assert webvtt([], 0) == "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n"


def test_cea608_pop_on_pairs_show_at_the_cue_and_clear_at_its_end():
    pairs = cea608.frame_pairs([Cue(1.0, 2.0, "Hi é")], Fraction(30), 120)
    eoc, edm = cea608._pair(0x14, 0x2F), cea608._pair(0x14, 0x2C)
    assert (pairs[30], pairs[31]) == (eoc, eoc) and (pairs[60], pairs[61]) == (edm, edm)
    loading = [pairs[f] for f in sorted(pairs) if f < 30]
    assert loading[:4] == [cea608._pair(0x14, 0x20)] * 2 + [cea608._pair(0x14, 0x2E)] * 2  # RCL RCL ENM ENM
    assert (0xC8, 0xE9) in loading and (0x20, 0xDC) in loading  # "Hi" and " é" with odd parity
    assert all(bin(b).count("1") % 2 == 1 for pair in pairs.values() for b in pair)


def test_cea608_sei_is_escaped_and_inserted_before_the_first_slice():
    sei = cea608.sei_nal((0x80, 0x80))
    assert sei.startswith(b"\x00\x00\x00\x01\x06\x04") and b"GA94" in sei and sei.endswith(b"\x80")
    assert nal.escape(b"\x00\x00\x01\x00\x00\x00") == b"\x00\x00\x03\x01\x00\x00\x03\x00"
    assert nal.unescape(nal.escape(b"\x00\x00\x01\x00\x00\x00")) == b"\x00\x00\x01\x00\x00\x00"
    access_unit = b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x00\x01\x65\x88\x84"
    assert cea608._with_sei(access_unit, b"SEI") == b"\x00\x00\x00\x01\x09\xf0SEI\x00\x00\x00\x01\x65\x88\x84"


def test_caption_inputs_are_known_by_extension_or_by_their_first_bytes(tmp_path):
    from local_emulator.transcoder.captions import is_caption_file, read_caption_file

    named = tmp_path / "track-en"  # no extension, as an object name may have
    named.write_bytes(b"\xef\xbb\xbf1\r\n00:00:01,000 --> 00:00:02,500\r\nHello\r\n")
    webvtt_file = tmp_path / "track-ko"
    webvtt_file.write_text("WEBVTT\n\n00:01.000 --> 00:02.000\n안녕\n", encoding="utf-8")
    media = tmp_path / "video.bin"
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    assert [is_caption_file(str(p)) for p in (named, webvtt_file, media)] == [True, True, False]
    assert read_caption_file(str(named), "x") == [Cue(1.0, 2.5, "Hello")]
    assert read_caption_file(str(webvtt_file), "y") == [Cue(1.0, 2.0, "안녕")]
    (tmp_path / "latin1.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\ncafé\n".encode("latin-1"))
    with pytest.raises(ApiError, match=r"latin1\.srt is not UTF-8"):
        read_caption_file(str(tmp_path / "latin1.srt"), "latin1.srt")


def test_drop_duplicate_gives_the_target_rate_downsample_a_divisor_of_the_input():
    phone = SourceInfo(duration=10.0, has_video=True, width=640, height=360, frame_rate=Fraction(20))
    for strategy, expected in (("DROP_DUPLICATE", "fps=30/1"), ("DOWNSAMPLE", "fps=20/1")):
        config = job(elementaryStreams__0__videoStream__h264__frameRateConversionStrategy=strategy,
                     muxStreams=[{"key": "mp4", "container": "mp4", "elementaryStreams": ["v"]}], manifests=[])
        plan = build_plan(config["config"], phone, "/work/in.mp4")
        assert expected + "," in plan.argv[plan.argv.index("-filter_complex") + 1], strategy
