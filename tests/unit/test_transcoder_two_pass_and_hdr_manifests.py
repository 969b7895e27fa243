"""The local Transcoder's two-pass encoding, HDR in its manifests and conversion from the input's own colour, as
units: the first pass's command (same inputs and graph, pass 1 to the null muxer) next to the job's (pass 2), an
unchanged command without enableTwoPass; VIDEO-RANGE in the HLS master and the CICP properties in the DASH MPD; the
filters from an HLG / PQ input (passthrough with no colour format or its own, HLG <-> PQ, tone-mapped by ``sdr``).
No processes: the emulator test tests/emulator/test_local_transcoder_two_pass_and_hdr_input.py runs the commands."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from fractions import Fraction

from local_emulator.transcoder import hdr
from local_emulator.transcoder.config import normalize_job
from local_emulator.transcoder.ffmpeg_plan import build_plan
from local_emulator.transcoder.manifests import MediaPlaylist, Segment, write_dash_mpd, write_hls_master
from local_emulator.transcoder.probe import SourceInfo

SOURCE = SourceInfo(duration=4, has_video=True, width=320, height=180, frame_rate=Fraction(30), has_audio=True,
                    audio_channels=2, audio_sample_rate=48000, audio_tracks={1: 2})
HLG_SOURCE = replace(SOURCE, color_transfer="arib-std-b67", color_primaries="bt2020", color_space="bt2020nc",
                     color_range="tv")
PQ_SOURCE = replace(HLG_SOURCE, color_transfer="smpte2084")
VIDEO = {"heightPixels": 180, "bitrateBps": 300000, "frameRate": 30}


def _config(streams: dict[str, dict], container: str = "mp4", **extra) -> dict:
    """One mux stream per video stream, each with the audio stream ``a`` (fmp4: video only, and ``m-a`` the audio)."""
    single = container == "fmp4"
    config = {"elementaryStreams": [{"key": key, "videoStream": video} for key, video in streams.items()]
              + [{"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 64000}}],
              "muxStreams": [{"key": f"m-{key}", "container": container,
                              "elementaryStreams": [key] if single else [key, "a"]} for key in streams]
              + ([{"key": "m-a", "container": container, "elementaryStreams": ["a"]}] if single else []), **extra}
    return normalize_job({"inputUri": "gs://bkt/a.mp4", "outputUri": "gs://bkt/o/", "config": config}, {},
                         "projects/p/locations/l")["config"]


def _options(argv: list[str], stream: int) -> dict[str, str]:
    """The ``-name:v:<stream> value`` options of one output video stream."""
    suffix = f":v:{stream}"
    return {arg[1:-len(suffix)]: argv[n + 1] for n, arg in enumerate(argv) if arg.endswith(suffix)}


def test_two_pass_h264_and_h265_run_pass_1_with_the_same_inputs_and_graph_then_pass_2() -> None:
    config = _config({"avc": {"h264": {**VIDEO, "enableTwoPass": True}},
                      "hevc": {"h265": {**VIDEO, "enableTwoPass": True}},
                      "plain": {"h264": VIDEO}},
                     spriteSheets=[{"filePrefix": "sp", "spriteHeightPixels": 32, "totalCount": 4}])
    plan = build_plan(config, SOURCE, "/w/a.mp4")
    first, second = plan.first_pass_argv, plan.argv
    graph_end = first.index("-filter_complex") + 2
    assert first[:graph_end] == second[:graph_end]  # same inputs, timeline options and filter graph
    assert first[-3:] == ["-f", "null", "-"] and "tee" not in first
    # every output of the graph is consumed: the three renditions and the sprite thumbnails
    assert [first[n + 1] for n, arg in enumerate(first) if arg == "-map"] == ["[v0]", "[v1]", "[v2]", "[sp0]"]
    avc1, avc2 = _options(first, 0), _options(second, 0)
    assert (avc1["pass"], avc2["pass"]) == ("1", "2")
    assert avc1["passlogfile"] == avc2["passlogfile"] == "../twopass-v0"  # beside the output folder, not in it
    assert avc1["b"] == avc2["b"] == "300000" and avc1["c"] == "libx264"
    hevc1 = _options(first, 1)["x265-params"].split(":")
    hevc2 = _options(second, 1)["x265-params"].split(":")
    assert hevc1[-2:] == ["pass=1", "stats=../twopass-v1.log"] and hevc2[-2:] == ["pass=2", "stats=../twopass-v1.log"]
    assert hevc1[:-2] == hevc2[:-2]
    assert _options(first, 2) == {"c": "wrapped_avframe"} and "pass" not in _options(second, 2)
    assert first[first.index("-c:v:3") + 1] == "wrapped_avframe"  # the sprite branch, unencoded


def test_filtered_audio_is_consumed_by_the_first_pass() -> None:
    config = _config({"avc": {"h264": {**VIDEO, "enableTwoPass": True}}})
    config["inputs"][0]["preprocessingConfig"] = {"audio": {"lufs": -23}}
    first = build_plan(config, SOURCE, "/w/a.mp4").first_pass_argv
    maps = [first[n + 1] for n, arg in enumerate(first) if arg == "-map"]
    assert maps == ["[v0]", "[aout0]"] and first[first.index("-c:a") + 1] == "pcm_f32le"


def test_without_enable_two_pass_the_command_is_unchanged_and_there_is_no_first_pass() -> None:
    plain = build_plan(_config({"avc": {"h264": VIDEO}, "hevc": {"h265": VIDEO}}), SOURCE, "/w/a.mp4")
    off = build_plan(_config({"avc": {"h264": {**VIDEO, "enableTwoPass": False}},
                              "hevc": {"h265": {**VIDEO, "enableTwoPass": False}}}), SOURCE, "/w/a.mp4")
    assert plain.first_pass_argv == off.first_pass_argv == [] and plain.argv == off.argv
    assert not any("pass" in arg for arg in plain.argv)


# ------------------------------------------------------------------------------------------------ manifests


def _written(tmp_path, kind: str, streams: dict[str, dict], source: SourceInfo = SOURCE) -> str:
    config = _config(streams, container="fmp4",
                     manifests=[{"fileName": f"manifest.{kind}", "type": "HLS" if kind == "m3u8" else "DASH",
                                 "muxStreams": [f"m-{key}" for key in streams] + ["m-a"]}])
    plan = build_plan(config, source, "/w/a.mp4")
    muxes = {m.key: m for m in plan.muxes}
    playlists = {key: MediaPlaylist(f"{key}-init.mp4", None, [Segment(f"{key}0.m4s", 4.0, 100_000)])
                 for key in muxes}
    codecs = {key: "hvc1.2.4.L93.B0" for key in muxes}
    write = write_hls_master if kind == "m3u8" else write_dash_mpd
    write(str(tmp_path), plan.manifests[0], muxes, playlists, codecs)
    return (tmp_path / f"manifest.{kind}").read_text()


def _video_ranges(text: str) -> dict[str, str | None]:
    lines = text.splitlines()
    variants = {lines[n + 1]: line for n, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")}
    return {uri: info.split("VIDEO-RANGE=")[1].split(",")[0] if "VIDEO-RANGE=" in info else None
            for uri, info in variants.items()}


def test_hls_master_says_video_range_hlg_and_pq_and_nothing_for_sdr(tmp_path) -> None:
    text = _written(tmp_path, "m3u8", {
        "hlg": {"h265": {**VIDEO, "hlg": {}, "pixelFormat": "yuv420p10"}},
        "pq": {"h265": {**VIDEO, "hdr10": {}, "pixelFormat": "yuv420p10"}},
        "sdr": {"h265": {**VIDEO, "sdr": {}}},
        "none": {"h264": VIDEO}})
    assert _video_ranges(text) == {"m-hlg.m3u8": "HLG", "m-pq.m3u8": "PQ", "m-sdr.m3u8": None, "m-none.m3u8": None}


def test_an_hdr_input_passed_through_keeps_its_video_range_and_sdr_drops_it(tmp_path) -> None:
    streams = {"none": {"h264": VIDEO}, "sdr": {"h264": {**VIDEO, "sdr": {}}}}
    assert _video_ranges(_written(tmp_path, "m3u8", streams, HLG_SOURCE)) == {"m-none.m3u8": "HLG",
                                                                              "m-sdr.m3u8": None}
    assert _video_ranges(_written(tmp_path, "m3u8", streams, PQ_SOURCE)) == {"m-none.m3u8": "PQ", "m-sdr.m3u8": None}


def test_dash_mpd_carries_the_cicp_colour_properties_of_hdr_representations(tmp_path) -> None:
    text = _written(tmp_path, "mpd", {
        "hlg": {"h265": {**VIDEO, "hlg": {}, "pixelFormat": "yuv420p10"}},
        "pq": {"h265": {**VIDEO, "hdr10": {}, "pixelFormat": "yuv420p10"}},
        "sdr": {"h264": VIDEO}})
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    reps = {r.get("id"): r for r in ET.fromstring(text).iterfind(".//d:Representation", ns)}

    def properties(key: str) -> set[tuple[str, str, str]]:
        return {(child.tag.split("}")[1], child.get("schemeIdUri").rsplit(":", 1)[1], child.get("value"))
                for child in reps[key] if child.tag.endswith("Property")}

    assert properties("m-pq") == {("EssentialProperty", "ColourPrimaries", "9"),
                                  ("EssentialProperty", "MatrixCoefficients", "9"),
                                  ("EssentialProperty", "TransferCharacteristics", "16")}
    assert properties("m-hlg") == {("EssentialProperty", "ColourPrimaries", "9"),
                                   ("EssentialProperty", "MatrixCoefficients", "9"),
                                   ("EssentialProperty", "TransferCharacteristics", "14"),
                                   ("SupplementalProperty", "TransferCharacteristics", "18")}
    assert properties("m-sdr") == set() and properties("m-a") == set()
    children = [child.tag.split("}")[1] for child in reps["m-hlg"]]  # the schema's order: properties, then segments
    assert children.index("SupplementalProperty") < children.index("SegmentList")


# ------------------------------------------------------------------------------------------------ the input's colour


def _graph(source: SourceInfo, codec: str = "h265", **settings) -> str:
    plan = build_plan(_config({"v": {codec: {**VIDEO, **settings}}}), source, "/w/a.mp4")
    return plan.argv[plan.argv.index("-filter_complex") + 1]


def test_an_hdr_input_with_no_colour_format_or_its_own_passes_through() -> None:
    assert "zscale" not in _graph(HLG_SOURCE, hlg={}, pixelFormat="yuv420p10")
    assert "zscale" not in _graph(PQ_SOURCE, hdr10={}, pixelFormat="yuv420p10")
    assert "zscale" not in _graph(HLG_SOURCE, "h264") and "zscale" not in _graph(PQ_SOURCE, "vp9")
    assert "zscale" not in _graph(replace(SOURCE, color_transfer="bt709"), sdr={})


def test_an_hdr_input_asked_for_sdr_is_tone_mapped_to_bt709() -> None:
    for source, transfer in ((HLG_SOURCE, "arib-std-b67"), (PQ_SOURCE, "smpte2084")):
        graph = _graph(source, "h264", sdr={})
        assert (f"zscale=tin={transfer}:min=bt2020nc:pin=bt2020:rin=tv:t=linear:npl=100,format=gbrpf32le,"
                "zscale=p=bt709,tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv,format=yuv420p[v0]"
                ) in graph


def test_hlg_and_pq_inputs_convert_to_each_other_through_linear_light() -> None:
    assert ("zscale=tin=arib-std-b67:min=bt2020nc:pin=bt2020:rin=tv:t=linear:m=gbr:p=bt2020:r=full:npl=203,"
            "format=gbrpf32le,zscale=tin=linear:min=gbr:pin=bt2020:rin=full:t=smpte2084:m=bt2020nc:p=bt2020:r=tv"
            ) in _graph(HLG_SOURCE, hdr10={}, pixelFormat="yuv420p10")
    assert "zscale=tin=smpte2084" in _graph(PQ_SOURCE, hlg={}) and ":t=arib-std-b67:" in _graph(PQ_SOURCE, hlg={})
    assert hdr.source_format(HLG_SOURCE) == "hlg" and hdr.source_format(PQ_SOURCE) == "hdr10"
    assert hdr.source_format(SOURCE) == hdr.source_format(None) == ""
