"""Image overlays through the local Transcoder (official client over REST, real ffmpeg): a PNG with an alpha channel
and a JPEG drawn on every rendition where the animations say (static, fade in, animationEnd), their size from
``resolution``, ``alpha``, pixels checked where drawn, where transparent and where absent; bad overlays answered
INVALID_ARGUMENT naming the field. Media are tiny (320x180 grey, 2.5 s; 32x32 images)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from google.api_core import exceptions as gexc
from google.cloud.video import transcoder_v1

from tests.emulator.test_local_transcoder_harness import BUCKET, Cloud, ffmpeg, start_cloud

GREY = (128, 128, 128)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    yield from start_cloud(tmp_path_factory.mktemp("transcoder-overlays"))


@pytest.fixture(scope="module")
def media(cloud: Cloud) -> dict[str, str]:
    grey, png, jpeg = cloud.tmp / "grey.mp4", cloud.tmp / "logo.png", cloud.tmp / "badge.jpg"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x808080:s=320x180:r=30:d=2.5", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", str(grey))
    # 32x32 green, its right half fully transparent
    ffmpeg("-f", "lavfi", "-i", "color=c=green:s=32x32,format=rgba,geq=r=0:g=255:b=0:a='if(lt(X,16),255,0)'",
           "-frames:v", "1", str(png))
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=32x32", "-frames:v", "1", "-q:v", "2", str(jpeg))
    return {"grey": cloud.upload("ov/in/grey.mp4", grey.read_bytes()),
            "png": cloud.upload("ov/in/logo.png", png.read_bytes()),
            "jpeg": cloud.upload("ov/in/badge.jpg", jpeg.read_bytes()),
            "text": cloud.upload("ov/in/not-an-image.png", b"hello, not an image")}


def _config(overlays: list[dict]) -> dict:
    return {
        "elementaryStreams": [
            {"key": "big", "videoStream": {"h264": {"heightPixels": 180, "bitrateBps": 400_000, "frameRate": 30,
                                                    "gopDuration": "1s", "crfLevel": 14, "rateControlMode": "crf"}}},
            {"key": "small", "videoStream": {"h264": {"heightPixels": 90, "bitrateBps": 200_000, "frameRate": 30,
                                                      "gopDuration": "1s", "crfLevel": 14, "rateControlMode": "crf"}}},
        ],
        "muxStreams": [{"key": "big", "container": "mp4", "elementaryStreams": ["big"]},
                       {"key": "small", "container": "mp4", "elementaryStreams": ["small"]}],
        "overlays": overlays,
    }


def _frames(path: Path) -> list[tuple[float, av.VideoFrame]]:
    with av.open(str(path)) as container:
        return [(float(f.time), f.reformat(format="rgb24")) for f in container.decode(video=0)]


def _pixel(frames, t: float, x: int, y: int) -> tuple[int, int, int]:
    frame = min(frames, key=lambda f: abs(f[0] - t))[1]
    plane = frame.planes[0]
    at = y * plane.line_size + 3 * x
    return tuple(bytes(plane)[at: at + 3])


def _near(rgb, want, tolerance: int = 24) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, want, strict=True))


def test_png_and_jpeg_overlays_are_drawn_where_and_when_the_animations_say(cloud: Cloud, media) -> None:
    overlays = [
        {  # on top: the PNG at the top-left, a quarter of the width (80 px, square), from 0.5 s
            "image": {"uri": media["png"], "resolution": {"x": 0.25, "y": 0}},
            "animations": [{"animationStatic": {"xy": {"x": 0, "y": 0}, "startTimeOffset": "0.5s"}}],
        },
        {  # the JPEG at its own size, fading in 0.5-1.5 s at (0.5, 0.5), gone from 2 s
            "image": {"uri": media["jpeg"]},
            "animations": [
                {"animationFade": {"fadeType": "FADE_IN", "xy": {"x": 0.5, "y": 0.5}, "startTimeOffset": "0.5s",
                                   "endTimeOffset": "1.5s"}},
                {"animationEnd": {"startTimeOffset": "2s"}},
            ],
        },
    ]
    folder = cloud.run({"inputUri": media["grey"], "outputUri": f"gs://{BUCKET}/ov/out/both/",
                        "config": _config(overlays)})
    big = _frames(folder / "big.mp4")
    assert _near(_pixel(big, 0.2, 10, 10), GREY)  # before its start: not drawn
    assert _near(_pixel(big, 1.0, 10, 10), (0, 255, 0), 40)  # the opaque half of the PNG
    assert _near(_pixel(big, 1.0, 60, 10), GREY)  # its transparent half shows the video
    assert _near(_pixel(big, 1.0, 100, 10), GREY)  # beyond its 80 px
    assert _near(_pixel(big, 1.0, 10, 70), (0, 255, 0), 40)  # 80 px tall: the aspect is kept
    jpeg_at = (160 + 16, 90 + 16)  # centre of the 32x32 JPEG placed at (0.5, 0.5)
    assert _near(_pixel(big, 0.3, *jpeg_at), GREY)  # before the fade
    half = _pixel(big, 1.0, *jpeg_at)  # halfway through the fade: between grey and blue
    assert 40 < half[2] - half[0] < 200, half
    assert _near(_pixel(big, 1.8, *jpeg_at), (0, 0, 255), 40)  # faded in
    assert _near(_pixel(big, 2.3, *jpeg_at), GREY)  # ended
    small = _frames(folder / "small.mp4")  # every rendition, sized by its own frame (160x90: PNG 40 px)
    assert _near(_pixel(small, 1.0, 5, 5), (0, 255, 0), 40)
    assert _near(_pixel(small, 1.0, 5, 45), GREY)
    assert _near(_pixel(small, 1.8, 80 + 16, 45 + 16), (0, 0, 255), 40)


def test_alpha_blends_the_image_into_the_video(cloud: Cloud, media) -> None:
    overlays = [{"image": {"uri": media["jpeg"], "alpha": 0.5},
                 "animations": [{"animationStatic": {"xy": {"x": 0.1, "y": 0.1}}}]}]
    folder = cloud.run({"inputUri": media["grey"], "outputUri": f"gs://{BUCKET}/ov/out/alpha/",
                        "config": _config(overlays)})
    rgb = _pixel(_frames(folder / "big.mp4"), 1.0, 32 + 16, 18 + 16)
    assert _near(rgb, (64, 64, 191), 30), rgb  # half grey, half blue


def test_an_input_that_is_not_an_image_fails_the_job_naming_the_overlay(cloud: Cloud, media) -> None:
    job = cloud.create({"inputUri": media["grey"], "outputUri": f"gs://{BUCKET}/ov/out/text/",
                        "config": _config([{"image": {"uri": media["text"]}}])})
    done = cloud.wait(job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.FAILED
    assert "overlays[0].image.uri" in done.error.message and "PNG or JPEG" in done.error.message


@pytest.mark.parametrize(("overlay", "field"), [
    ({"image": {}}, r"overlays\[0\]\.image\.uri is required"),
    ({"image": {"uri": "https://example.com/logo.png"}}, r"overlays\[0\]\.image\.uri"),
    ({"image": {"uri": "gs://bkt/x.png", "resolution": {"x": 1.5}}}, r"overlays\[0\]\.image\.resolution\.x"),
    ({"image": {"uri": "gs://bkt/x.png", "alpha": 2}}, r"overlays\[0\]\.image\.alpha"),
    ({"image": {"uri": "gs://bkt/x.png"}, "animations": [{"animationFade": {"startTimeOffset": "1s"}}]},
     r"overlays\[0\]\.animations\[0\]\.animationFade\.fadeType"),
    ({"image": {"uri": "gs://bkt/x.png"}, "animations": [
        {"animationFade": {"fadeType": "FADE_IN", "startTimeOffset": "1s", "endTimeOffset": "3s"}},
        {"animationEnd": {"startTimeOffset": "2s"}}]},
     r"overlays\[0\]\.animations\[1\]\.animationEnd\.startTimeOffset.*overlap"),
    ({"image": {"uri": "gs://bkt/x.png"}, "animations": [
        {"animationFade": {"fadeType": "FADE_OUT", "startTimeOffset": "2s", "endTimeOffset": "1s"}}]},
     r"overlays\[0\]\.animations\[0\]\.animationFade\.endTimeOffset"),
    ({"image": {"uri": "gs://bkt/x.png"}, "animations": [
        {"animationStatic": {"xy": {"x": 0.5, "y": -0.1}}}]},
     r"overlays\[0\]\.animations\[0\]\.animationStatic\.xy\.y"),
])
def test_bad_overlays_are_invalid_argument_naming_the_field(cloud: Cloud, media, overlay: dict, field: str) -> None:
    with pytest.raises(gexc.BadRequest, match=field):
        cloud.create({"inputUri": media["grey"], "outputUri": f"gs://{BUCKET}/ov/out/bad/",
                      "config": _config([overlay])})


def test_site_watermark_from_the_settings_is_drawn_in_its_corner_on_every_rendition(cloud: Cloud, media,
                                                                                     monkeypatch) -> None:
    """kstream's watermark (transcode/watermark.py): the bundled PNG copied into the media bucket, its overlay in the
    bottom-right corner at 80% opacity, drawn by the local Transcoder on both renditions."""
    from types import SimpleNamespace

    from kstream.settings import Settings
    from kstream.transcode import watermark

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", cloud.gcs)
    settings = Settings(project_id="demo-watermark", media_bucket=BUCKET,
                        watermark_logo=str(watermark.BUNDLED_LOGO), watermark_opacity=0.8)
    part = watermark.job_overlays(SimpleNamespace(width=320, height=180), settings)
    uri = part["overlays"][0]["image"]["uri"]
    assert uri.startswith(f"gs://{BUCKET}/branding/watermark-") and cloud.list(uri.split(f"{BUCKET}/", 1)[1])
    folder = cloud.run({"inputUri": media["grey"], "outputUri": f"gs://{BUCKET}/ov/out/watermark/",
                        "config": {**_config([]), **part}})
    for name, (w, h) in (("big.mp4", (320, 180)), ("small.mp4", (160, 90))):
        frames = _frames(folder / name)
        # the logo box: 12% of the width, 3% of the width from the right and bottom edges (192x64 logo: 3:1)
        left, width = round(w * 0.85), round(w * 0.12)
        top = round(h - w * 0.03 - width / 3)
        box = [_pixel(frames, 1.0, x, y) for x in range(left + 2, left + width - 2)
               for y in range(top + 2, top + round(width / 3) - 2)]
        reds = [p for p in box if p[0] - p[2] > 100]
        assert len(reds) > len(box) / 4, name  # the red badge is there
        red = sorted(p[0] for p in reds)[len(reds) // 2]
        if name == "big.mp4":  # (the 160x90 rendition's 19x6 badge is mostly text edges)
            assert 190 < red < 222, red  # blended at 80% over grey: 209 (solid red would be 229)
        assert _near(_pixel(frames, 1.0, left - 6, top + 3), GREY), name  # left of it: the video
        assert _near(_pixel(frames, 1.0, 8, 8), GREY), name  # other corners: the video
