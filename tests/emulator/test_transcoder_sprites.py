"""Sprite-sheet sampling in the local Transcoder, run through a real ffmpeg: a poster whose sampling period is
longer than what is left of the clip must still yield its one frame (it once yielded none for 6-8 s sources)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from local_emulator.transcoder.ffmpeg_plan import PlannedSprite, _sprite_filter


@pytest.mark.parametrize("seconds", [6, 8, 10])
def test_a_poster_sprite_always_has_its_frame(tmp_path: Path, seconds: int) -> None:
    source = tmp_path / "src.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=320x180:rate=30:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                    str(source)], check=True)
    sprite = {"filePrefix": "poster", "totalCount": 1, "startTimeOffset": f"{seconds / 10:.1f}s",
              "endTimeOffset": "12s"}
    # The planned span (to the sprite's endTimeOffset) outlasts the clip: ffmpeg's fps filter must still flush.
    graph = _sprite_filter(sprite, PlannedSprite("poster", 1, 1, 1, 160, 90), 12.0)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", graph, str(tmp_path / "p%d.png")],
                   check=True)
    assert sorted(p.name for p in tmp_path.glob("p*.png")) == ["p1.png"]
