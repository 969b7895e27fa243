"""The local Transcoder's plan for several edit atoms and for overlays (ffmpeg_plan.py): which inputs, trims and
filters the one ffmpeg command gets; and overlay animations turned into phases (jobconfig/overlays.py). No
processes: tests/emulator/test_local_transcoder_{codecs,overlays}.py run the commands."""

from __future__ import annotations

from fractions import Fraction

import pytest

from local_emulator.transcoder.config import normalize_job
from local_emulator.transcoder.errors import ApiError
from local_emulator.transcoder.ffmpeg_plan import MediaInput, build_plan
from local_emulator.transcoder.jobconfig.overlays import Phase, overlay_timeline
from local_emulator.transcoder.probe import SourceInfo

A = SourceInfo(duration=4, has_video=True, width=320, height=180, frame_rate=Fraction(30), has_audio=True,
               audio_channels=2, audio_sample_rate=48000, audio_tracks={1: 2})
SILENT = SourceInfo(duration=3, has_video=True, width=160, height=120, frame_rate=Fraction(25))


def _plan(config: dict, images: list[str] | None = None):
    job = normalize_job({"inputUri": "gs://bkt/a.mp4", "outputUri": "gs://bkt/o/", "config": config}, {},
                        "projects/p/locations/l")
    inputs = {"a": MediaInput("a", "/w/a.mp4", A), "b": MediaInput("b", "/w/b.mp4", SILENT)}
    return build_plan(job["config"], A, "/w/a.mp4", media_key="a", inputs=inputs, overlay_images=images)


STREAMS = [{"key": "v", "videoStream": {"h264": {"heightPixels": 180, "bitrateBps": 100000, "frameRate": 30}}},
           {"key": "au", "audioStream": {"codec": "aac", "bitrateBps": 64000}}]
MUXES = [{"key": "m", "container": "mp4", "elementaryStreams": ["v", "au"]}]


def test_atoms_are_trimmed_inputs_joined_by_one_concat_with_silence_for_a_silent_atom() -> None:
    plan = _plan({"inputs": [{"key": "a", "uri": "gs://bkt/a.mp4"}, {"key": "b", "uri": "gs://bkt/b.mp4"}],
                  "editList": [{"key": "x", "inputs": ["a"], "startTimeOffset": "1s", "endTimeOffset": "2.5s"},
                               {"key": "y", "inputs": ["b"]}, {"key": "z", "inputs": ["a"], "endTimeOffset": "1s"}],
                  "elementaryStreams": STREAMS, "muxStreams": MUXES})
    argv = plan.argv
    assert "-copyts" not in argv
    first = argv.index("-i")
    assert argv[first - 4: first] == ["-ss", "1", "-to", "2.5"]
    assert [argv[i + 1] for i, arg in enumerate(argv) if arg == "-i"] == ["/w/a.mp4", "/w/b.mp4", "/w/a.mp4"]
    graph = argv[argv.index("-filter_complex") + 1]
    assert "[cv0][ca0_0][cv1][ca0_1][cv2][ca0_2]concat=n=3:v=1:a=1[catv][cata0]" in graph
    assert "anullsrc=r=48000:cl=FL+FR" in graph  # the silent atom
    assert "scale=320:180:force_original_aspect_ratio=decrease,pad=320:180" in graph  # 4:3 atom letterboxed
    assert plan.output_duration == pytest.approx(1.5 + 3 + 1)


def test_an_atom_past_the_end_of_its_input_fails_naming_it() -> None:
    with pytest.raises(ApiError, match=r"editList\[1\]\.startTimeOffset"):
        _plan({"inputs": [{"key": "a", "uri": "gs://bkt/a.mp4"}, {"key": "b", "uri": "gs://bkt/b.mp4"}],
               "editList": [{"key": "x", "inputs": ["a"]}, {"key": "y", "inputs": ["b"], "startTimeOffset": "5s"}],
               "elementaryStreams": STREAMS, "muxStreams": MUXES})


def test_overlays_are_drawn_last_first_with_static_alpha_as_a_mixer_and_fades_as_geq() -> None:
    overlays = [{"image": {"uri": "gs://bkt/top.png", "alpha": 0.5, "resolution": {"x": 0.25}},
                 "animations": [{"animationStatic": {"xy": {"x": 0.5, "y": 0.5}, "startTimeOffset": "1s"}}]},
                {"image": {"uri": "gs://bkt/under.jpg"},
                 "animations": [{"animationFade": {"fadeType": "FADE_IN", "startTimeOffset": "1s"}}]}]
    plan = _plan({"elementaryStreams": STREAMS, "muxStreams": MUXES,
                  "overlays": overlays}, ["/w/top.png", "/w/under.jpg"])
    graph = plan.argv[plan.argv.index("-filter_complex") + 1]
    assert graph.index("overlay=", graph.index("[im1_0]")) < graph.index("[im0_0]overlay=")  # 'under' first
    assert "scale=80:-1,colorchannelmixer=aa=0.5[im0_0]" in graph
    assert r"overlay=x=160:y=90:format=yuv420:shortest=1:enable=if(lt(t\,1)\,0\,1)" in graph
    assert r"geq=" in graph and r"clip((T-1)/1\,0\,1)" in graph


def test_overlay_phases() -> None:
    fade_out_first = {"animations": [{"animationFade": {"fadeType": "FADE_OUT", "xy": {"x": 0.1, "y": 0.2},
                                                        "startTimeOffset": "2s", "endTimeOffset": "3s"}},
                                     {"animationEnd": {"startTimeOffset": "4s"}}]}
    assert overlay_timeline(fade_out_first) == [Phase(0, 0.1, 0.2, 1, 1, 0), Phase(2, 0.1, 0.2, 1, 0, 3),
                                                Phase(4, 0.1, 0.2, 0, 0, 4)]
    assert overlay_timeline({"animations": []}) == [Phase(0, 0, 0, 1, 1, 0)]
