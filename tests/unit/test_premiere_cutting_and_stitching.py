"""Premiere parts without processes: how a source is cut (parts.py) and how the parts' playlists and MPDs become one
presentation (stitch.py)."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

import pytest
from kstream.transcode import ladder
from kstream.transcode.media_probe import SourceInfo
from kstream.transcode.parts import Part, part_config, plan_parts
from kstream.transcode.stitch import PartTiming, StitchError, kept_segments, stitch_media_playlist, stitch_mpd

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def test_a_source_under_the_threshold_is_one_job() -> None:
    assert plan_parts(599.0, segment_seconds=6, threshold_seconds=600, part_seconds=300, max_parts=20) == []
    assert plan_parts(None, segment_seconds=6, threshold_seconds=600, part_seconds=300, max_parts=20) == []


def test_a_70_minute_episode_is_cut_on_segment_boundaries_with_a_one_segment_preroll() -> None:
    parts = plan_parts(70 * 60 + 13.4, segment_seconds=6, threshold_seconds=600, part_seconds=300, max_parts=20)
    assert len(parts) == 15  # ceil(4213.4 / 300)
    assert parts[0] == Part(0, 0.0, parts[1].start, 0.0)
    assert parts[-1].end is None  # to the end of the source: nothing is cut off
    for before, after in itertools.pairwise(parts):
        assert before.end == after.start and after.start % 6 == 0  # every boundary a segment (and GOP) multiple
        assert after.preroll == 6 and after.encode_start == after.start - 6
    lengths = [p.end - p.start for p in parts[1:-1] if p.end is not None]
    assert max(lengths) - min(lengths) <= 6
    assert parts[0].end is not None and abs(parts[0].end - min(lengths) / 2) <= 6  # the opening: half a part


def test_the_parallel_job_bound_caps_the_number_of_parts() -> None:
    parts = plan_parts(7200, segment_seconds=6, threshold_seconds=600, part_seconds=60, max_parts=8)
    assert len(parts) == 8 and [p.prefix for p in parts][:2] == ["part-00/", "part-01/"]


def test_segment_lengths_the_ladder_refuses_are_refused() -> None:
    with pytest.raises(ValueError, match=r"multiple of 0\.5"):
        plan_parts(7200, segment_seconds=0.7, threshold_seconds=600, part_seconds=300, max_parts=8)


def _source() -> SourceInfo:
    return SourceInfo(width=1920, height=1080, duration_seconds=1800.0, has_audio=True, has_video=True,
                      container="mp4", video_codec="h264", frame_rate=30.0, audio_codec="aac", audio_channels=2,
                      audio_tracks=1)


def test_a_part_config_is_the_whole_config_trimmed_with_the_same_encoding() -> None:
    whole = ladder.build_job_config(_source(), input_uri="gs://src/sources/v/e.mp4", output_uri="gs://media/videos/v/",
                                    pubsub_topic="projects/p/topics/t")
    middle = part_config(whole, Part(2, 600.0, 900.0, 6.0), output_uri="gs://media/videos/v/")
    assert middle["editList"] == [{"key": "atom0", "inputs": ["input0"], "startTimeOffset": "594s",
                                   "endTimeOffset": "900s"}]
    assert middle["output"] == {"uri": "gs://media/videos/v/part-02/"}
    assert middle["elementaryStreams"] == whole["elementaryStreams"]  # identical encoding settings
    assert ladder.PROGRESSIVE_MUX_KEY not in [m["key"] for m in middle["muxStreams"]]
    assert "spriteSheets" not in middle
    first = part_config(whole, Part(0, 0.0, 300.0, 0.0), output_uri="gs://media/videos/v/")
    assert first["editList"][0]["startTimeOffset"] == "0s" and len(first["spriteSheets"]) == 2
    poster = next(s for s in first["spriteSheets"] if "startTimeOffset" in s)
    assert float(poster["startTimeOffset"].rstrip("s")) < 300
    last = part_config(whole, Part(5, 1500.0, None, 6.0), output_uri="gs://media/videos/v/")
    assert "endTimeOffset" not in last["editList"][0]
    assert whole["editList"] == [{"key": "atom0", "inputs": ["input0"]}]  # the whole config is left alone


VIDEO = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="video-720p-init.m4s"
#EXTINF:2.000000,
video-720p0000000000.m4s
#EXTINF:2.000000,
video-720p0000000001.m4s
#EXTINF:2.000000,
video-720p0000000002.m4s
#EXT-X-ENDLIST
"""
AUDIO = """#EXTM3U
#EXT-X-MAP:URI="audio-init.m4s"
#EXTINF:2.005333,
audio0000000000.m4s
#EXTINF:2.005333,
audio0000000001.m4s
#EXTINF:1.989334,
audio0000000002.m4s
#EXT-X-ENDLIST
"""


def test_the_preroll_segment_is_left_out_of_video_and_audio() -> None:
    video = kept_segments(VIDEO, 2.0)
    assert video.init == "video-720p-init.m4s" and video.skipped == 2.0
    assert [uri for _, uri in video.segments] == ["video-720p0000000001.m4s", "video-720p0000000002.m4s"]
    audio = kept_segments(AUDIO, 2.0)  # its first segment ends 5 ms past the video's: still the preroll
    assert [uri for _, uri in audio.segments] == ["audio0000000001.m4s", "audio0000000002.m4s"]
    assert kept_segments(VIDEO, 0.0).duration == 6.0


def test_stitched_playlists_are_event_until_every_part_is_done_then_vod() -> None:
    parts = [("part-00/", kept_segments(VIDEO, 0.0)), ("part-01/", kept_segments(VIDEO, 2.0))]
    growing = stitch_media_playlist(parts[:1], complete=False)
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in growing and "#EXT-X-ENDLIST" not in growing
    done = stitch_media_playlist(parts, complete=True)
    lines = done.splitlines()
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in lines and lines[-1] == "#EXT-X-ENDLIST"
    at = lines.index("#EXT-X-DISCONTINUITY")
    assert lines[at + 1] == '#EXT-X-MAP:URI="part-01/video-720p-init.m4s"'
    assert lines[at + 3] == "part-01/video-720p0000000001.m4s"
    assert sum(1 for line in lines if line.startswith("#EXTINF")) == 5
    assert lines.count("#EXT-X-DISCONTINUITY") == 1 and "#EXT-X-TARGETDURATION:2" in lines


def test_a_part_playlist_the_transcoder_would_not_write_is_refused() -> None:
    with pytest.raises(StitchError):
        kept_segments("not a playlist", 0.0)
    with pytest.raises(StitchError):
        kept_segments("#EXTM3U\nsegment.m4s\n", 0.0)


MPD = """<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT6.021S" minBufferTime="PT2S">
  <Period id="0" start="PT0S" duration="PT6.021S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <Representation id="video-720p" bandwidth="3000000" codecs="avc1.64001f" width="1280" height="720">
        <SegmentTemplate timescale="1000" initialization="video-720p-init.m4s" media="video-720p$Number%010d$.m4s"
                         startNumber="0">
          <SegmentTimeline><S t="0" d="2000" r="2" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4">
      <Representation id="audio" bandwidth="128000" codecs="mp4a.40.2" audioSamplingRate="48000">
        <SegmentTemplate timescale="1000" initialization="audio-init.m4s" media="audio$Number%010d$.m4s"
                         startNumber="0">
          <SegmentTimeline><S t="0" d="2005" r="1" /><S d="1990" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def test_the_mpd_has_one_period_per_part_starting_at_its_boundary() -> None:
    text = stitch_mpd([("part-00/", MPD, PartTiming(0.0, 6.0, 0.0)), ("part-01/", MPD, PartTiming(6.0, 4.0, 2.0))])
    root = ET.fromstring(text)
    periods = root.findall("d:Period", NS)
    assert [(p.get("start"), p.get("duration")) for p in periods] == [("PT0.000S", "PT6.000S"),
                                                                       ("PT6.000S", "PT4.000S")]
    assert root.get("mediaPresentationDuration") == "PT10.000S"
    first = periods[0].find("d:AdaptationSet/d:Representation/d:SegmentTemplate", NS)
    assert first is not None and first.get("presentationTimeOffset") is None
    assert first.get("media") == "part-00/video-720p$Number%010d$.m4s"
    video, audio = periods[1].findall("d:AdaptationSet/d:Representation/d:SegmentTemplate", NS)
    assert video.get("presentationTimeOffset") == "2000" and video.get("startNumber") == "1"
    assert [(s.get("t"), s.get("d")) for s in video.findall("d:SegmentTimeline/d:S", NS)] == [
        ("2000", "2000"), (None, "2000")]
    assert audio.get("initialization") == "part-01/audio-init.m4s" and audio.get("startNumber") == "1"
    assert [(s.get("t"), s.get("d")) for s in audio.findall("d:SegmentTimeline/d:S", NS)] == [
        ("2005", "2005"), (None, "1990")]


def test_the_local_transcoder_puts_every_part_on_one_timeline() -> None:
    """The first seam's audio step (issue 17): the first part [0, end) was planned like the whole input (-copyts, video
    one frame late, audio 12 ms early) and the others [start - preroll, end) like a cut (video at 0, audio one AAC
    priming late). Every part is a cut now: each lines up its audio with its video the same way; the whole input
    still keeps the source's own A/V start offset."""
    from fractions import Fraction

    from local_emulator.transcoder.config import normalize_job
    from local_emulator.transcoder.ffmpeg_plan import build_plan
    from local_emulator.transcoder.probe import SourceInfo as LocalSourceInfo

    local = LocalSourceInfo(duration=1800.0, has_video=True, width=1920, height=1080, frame_rate=Fraction(30),
                            has_audio=True, audio_channels=2, audio_sample_rate=48000, audio_tracks={1: 2})
    whole = ladder.build_job_config(_source(), input_uri="gs://src/sources/v/e.mp4", output_uri="gs://media/videos/v/",
                                    pubsub_topic="projects/p/topics/t")

    def argv(config: dict) -> list[str]:
        job = normalize_job({"config": config}, {}, "projects/p/locations/l")
        return build_plan(job["config"], local, "/w/e.mp4").argv

    parts = plan_parts(1800.0, segment_seconds=6, threshold_seconds=600, part_seconds=300, max_parts=10)
    for part in parts:
        command = argv(part_config(whole, part, output_uri="gs://media/videos/v/"))
        assert "-copyts" not in command and "-itsoffset" not in command, (part, command[:30])
        trim = command[command.index("-i") - 4:command.index("-i")]
        assert ("-ss" in trim) == (part.index > 0) and ("-to" in trim) == (part.end is not None)
    assert "-copyts" in argv(whole)  # the whole input: the source's own timeline
