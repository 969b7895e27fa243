"""The site watermark's overlay (transcode/watermark.py): corner geometry, opacity as the image alpha, off by default,
and the PNG header read; no processes."""

from __future__ import annotations

import pytest
from kstream.errors import ConfigurationError
from kstream.settings import Settings
from kstream.transcode.watermark import BUNDLED_LOGO, Logo, job_overlays, overlay_for, png_size

LOGO = Logo("gs://kstream-media/branding/watermark.png", 192, 64)


@pytest.mark.parametrize(("corner", "x", "y"), [
    ("top-left", 0.03, 0.0533), ("top-right", 0.85, 0.0533),
    ("bottom-left", 0.03, 0.8756), ("bottom-right", 0.85, 0.8756),
])
def test_the_logo_sits_in_its_corner_a_margin_from_both_edges(corner: str, x: float, y: float) -> None:
    overlay = overlay_for(LOGO, 1920, 1080, corner=corner, opacity=0.6, width=0.12)
    assert overlay["image"] == {"uri": LOGO.uri, "resolution": {"x": 0.12, "y": 0}, "alpha": 0.6}
    xy = overlay["animations"][0]["animationStatic"]["xy"]
    assert xy == pytest.approx({"x": x, "y": y}, abs=1e-3)
    assert overlay["animations"][0]["animationStatic"]["startTimeOffset"] == "0s"


def test_portrait_video_keeps_the_logo_inside_the_frame() -> None:
    overlay = overlay_for(LOGO, 1080, 1920, corner="bottom-right", width=0.5)
    xy = overlay["animations"][0]["animationStatic"]["xy"]
    logo_height = 0.5 * (1080 / 1920) * (64 / 192)
    assert xy["y"] >= 0 and xy["y"] + logo_height <= 1


def test_off_by_default_and_when_the_setting_is_empty(monkeypatch) -> None:
    monkeypatch.delenv("KSTREAM_WATERMARK_LOGO", raising=False)
    assert job_overlays(object()) == {}
    assert job_overlays(object(), Settings(project_id="demo-x")) == {}


def test_png_size_reads_the_ihdr_and_refuses_other_files() -> None:
    assert png_size(BUNDLED_LOGO.read_bytes()[:24], "logo") == (192, 64)
    with pytest.raises(ConfigurationError, match=r"KSTREAM_WATERMARK_LOGO.*not a PNG"):
        png_size(b"\xff\xd8\xff\xe0" + bytes(20), "logo.jpg")


def test_the_setting_is_validated() -> None:
    with pytest.raises(ValueError):
        Settings(project_id="demo-x", watermark_opacity=0)
    with pytest.raises(ValueError):
        Settings(project_id="demo-x", watermark_corner="middle")
