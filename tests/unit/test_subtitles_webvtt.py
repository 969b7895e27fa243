"""Unit: cues -> normalised WebVTT, HLS WebVTT segments and their media playlist (read back with webvtt-py and m3u8)."""

from __future__ import annotations

import time

import m3u8
import pytest
import webvtt
from kstream.subtitles import Cue, hls_subtitle_playlist, parse_subtitle, segment_webvtt, to_webvtt

from tests import subtitle_samples as samples


def read_vtt(text: str) -> list[tuple[float, float, str]]:
    doc = webvtt.WebVTT.from_string(text, strict=True)
    return [(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000, c.raw_text) for c in doc]


def blocks(text: str) -> list[str]:
    return text.strip().split("\n\n")[1:]


# --- to_webvtt ---


def test_header_timestamps_and_utf8_text():
    out = to_webvtt([Cue(1.0, 3.5, samples.KOREAN_LINE), Cue(3725.25, 3727.0, "later")])
    assert out.startswith("WEBVTT\n\n")
    assert blocks(out) == [
        f"00:00:01.000 --> 00:00:03.500\n{samples.KOREAN_LINE}",
        "01:02:05.250 --> 01:02:07.000\nlater",
    ]
    assert samples.KOREAN_LINE.encode("utf-8") in out.encode("utf-8")


def test_cues_sorted_by_start_stable_and_overlaps_kept():
    cues = [Cue(5.0, 6.0, "c"), Cue(1.0, 9.0, "a-long"), Cue(2.0, 3.0, "b-inside"), Cue(5.0, 7.0, "c-same-start")]
    assert [text for _, _, text in read_vtt(to_webvtt(cues))] == ["a-long", "b-inside", "c", "c-same-start"]


def test_zero_and_negative_length_cues_are_dropped():
    cues = [Cue(1.0, 1.0, "zero"), Cue(3.0, 2.0, "negative"), Cue(1.0, 1.0004, "rounds to zero"), Cue(4.0, 5.0, "ok")]
    assert read_vtt(to_webvtt(cues)) == [(4.0, 5.0, "ok")]


def test_no_cue_gives_a_header_only_document():
    assert to_webvtt([]) == "WEBVTT\n"


def test_parsed_files_round_trip_through_a_webvtt_parser():
    for data, name, language in [
        (samples.english_srt(), "en.srt", None),
        (samples.korean_srt_cp949(), "ko.srt", None),
        (samples.korean_english_sami_cp949(), "ko.smi", "ko"),
        (samples.utf16_srt(), "u16.srt", None),
        (samples.styled_ass(), "s.ass", None),
        (samples.webvtt_with_bom(), "w.vtt", None),
    ]:
        parsed = parse_subtitle(data, file_name=name, language=language)
        expected = sorted(((c.start, c.end, c.text) for c in parsed.cues), key=lambda cue: cue[0])
        assert read_vtt(to_webvtt(parsed.cues)) == expected, name


def test_escaping_survives_to_the_document():
    out = to_webvtt(parse_subtitle(samples.english_srt(), file_name="en.srt").cues)
    assert "Tom &amp; Jerry said 3 &lt; 4.\nNot <b>me</b>." in out
    assert "-->" not in "".join(line for line in out.splitlines() if not line[:2].isdigit())


# --- segment_webvtt ---

TIMESTAMP_MAP = "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000"


def test_every_segment_is_a_webvtt_file_with_the_timestamp_map():
    segments = segment_webvtt([Cue(1.0, 2.0, "a")], segment_seconds=6, duration_seconds=20)
    assert len(segments) == 4  # 6 + 6 + 6 + 2
    for segment in segments:
        assert segment.splitlines()[:2] == ["WEBVTT", TIMESTAMP_MAP]
        read_vtt(segment)
    zero = segment_webvtt([Cue(1.0, 2.0, "a")], segment_seconds=6, duration_seconds=6, mpegts=0)
    assert zero[0].splitlines()[1] == "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"


def test_a_cue_spanning_boundaries_is_in_every_segment_it_overlaps_identically():
    cues = [Cue(5.0, 13.0, "spans three"), Cue(12.0, 12.5, "inside third"), Cue(6.0, 7.0, "starts on a boundary")]
    segments = segment_webvtt(cues, segment_seconds=6, duration_seconds=18)
    assert [[text for _, _, text in read_vtt(s)] for s in segments] == [
        ["spans three"],
        ["spans three", "starts on a boundary"],
        ["spans three", "inside third"],
    ]
    # byte-identical blocks (same start, end, text, no id): hls.js gives them one id and adds the cue once
    block = "00:00:05.000 --> 00:00:13.000\nspans three"
    assert all(block in blocks(s) for s in segments)


def test_a_cue_ending_on_a_boundary_stays_in_its_segment():
    segments = segment_webvtt([Cue(1.0, 6.0, "ends at 6")], segment_seconds=6, duration_seconds=12)
    assert [len(read_vtt(s)) for s in segments] == [1, 0]


def test_empty_segments_are_written_header_only():
    segments = segment_webvtt([Cue(1.0, 2.0, "a"), Cue(25.0, 26.0, "b")], segment_seconds=6, duration_seconds=30)
    assert [len(read_vtt(s)) for s in segments] == [1, 0, 0, 0, 1]
    assert segments[1] == f"WEBVTT\n{TIMESTAMP_MAP}\n"


def test_last_segment_is_shorter_and_takes_cues_running_past_the_end():
    segments = segment_webvtt([Cue(19.0, 21.5, "runs past the end"), Cue(22.0, 23.0, "after the end")],
                              segment_seconds=6, duration_seconds=20)
    assert len(segments) == 4
    assert [text for _, _, text in read_vtt(segments[-1])] == ["runs past the end"]


def test_cue_times_are_the_episode_times_in_every_segment():
    segments = segment_webvtt([Cue(3600.0 - 3, 3600.0 - 1, "last words")], segment_seconds=6, duration_seconds=3600)
    assert len(segments) == 600
    assert read_vtt(segments[-1]) == [(3597.0, 3599.0, "last words")]


def test_bad_segmenting_arguments():
    with pytest.raises(ValueError):
        segment_webvtt([], segment_seconds=0, duration_seconds=10)
    with pytest.raises(ValueError):
        segment_webvtt([], segment_seconds=6, duration_seconds=10, mpegts=2**33)


# --- hls_subtitle_playlist ---


def test_playlist_parses_as_a_vod_media_playlist_covering_the_duration():
    uris = [f"vtt/ko/segment-{i:05d}.vtt" for i in range(4)]
    text = hls_subtitle_playlist(uris, segment_seconds=6, duration_seconds=20.5)
    playlist = m3u8.loads(text)
    assert playlist.is_variant is False
    assert playlist.version == 3
    assert playlist.target_duration == 6
    assert playlist.playlist_type == "vod"
    assert playlist.is_endlist is True
    assert [s.uri for s in playlist.segments] == uris
    assert [s.duration for s in playlist.segments] == [6.0, 6.0, 6.0, 2.5]
    assert sum(s.duration for s in playlist.segments) == pytest.approx(20.5)


def test_target_duration_is_the_ceiling_of_the_longest_segment():
    playlist = m3u8.loads(hls_subtitle_playlist(["a.vtt", "b.vtt"], segment_seconds=4.004, duration_seconds=6))
    assert playlist.target_duration == 5
    assert [s.duration for s in playlist.segments] == [4.004, pytest.approx(1.996)]


def test_playlist_and_segments_agree_on_the_count():
    segments = segment_webvtt([], segment_seconds=6, duration_seconds=60)
    m3u8.loads(hls_subtitle_playlist([f"{i}.vtt" for i in range(len(segments))], segment_seconds=6,
                                     duration_seconds=60))
    with pytest.raises(ValueError, match="10 segments"):
        hls_subtitle_playlist(["only-one.vtt"], segment_seconds=6, duration_seconds=60)


# --- cost ---


def _pipeline(data: bytes, duration: float) -> float:
    started = time.process_time()  # CPU time: the machine is shared, wall time measures the neighbours
    parsed = parse_subtitle(data, file_name="long.srt")
    to_webvtt(parsed.cues)
    segments = segment_webvtt(parsed.cues, segment_seconds=6, duration_seconds=duration)
    hls_subtitle_playlist([f"{i}.vtt" for i in range(len(segments))], segment_seconds=6, duration_seconds=duration)
    return time.process_time() - started


def test_a_900_cue_hour_costs_linear_time_well_within_a_request():
    long, short = samples.long_track(cues=900, minutes=60), samples.long_track(cues=90, minutes=6)
    _pipeline(short, 360)  # warm up imports and regex caches
    full = min(_pipeline(long, 3600) for _ in range(3))
    tenth = min(_pipeline(short, 360) for _ in range(3))
    print(f"900 cues / 60 min: {full * 1000:.1f} ms; 90 cues / 6 min: {tenth * 1000:.1f} ms")
    assert full < 2.0  # generous: measured ~50-90 ms on the 2-core dev machine (budget 200 ms)
    assert full < 25 * tenth  # 10x the cues and segments must not cost much more than 10x
