"""System presets. ``preset/web-hd`` as Google documents it (job-templates and jobs how-to pages): two H.264 rungs
(640x360 @550 kbps, 1280x720 @2.5 Mbps, 30 fps, 3 s GOP), one AAC stereo 64 kbps 48 kHz stream, MP4 files, TS mux
streams for HLS and single-stream fMP4 mux streams for DASH. The real preset needs an input with an audio track."""

from __future__ import annotations

import copy


def _h264(width: int, height: int, bitrate: int) -> dict:
    return {
        "widthPixels": width,
        "heightPixels": height,
        "frameRate": 30,
        "bitrateBps": bitrate,
        "pixelFormat": "yuv420p",
        "rateControlMode": "vbr",
        "crfLevel": 21,
        "gopDuration": "3s",
        "vbvSizeBits": bitrate,
        "vbvFullnessBits": bitrate * 9 // 10,
        "entropyCoder": "cabac",
        "bFrameCount": 3,
        "aqStrength": 1,
        "profile": "high",
        "preset": "veryfast",
    }


_WEB_HD = {
    "inputs": [{"key": "input0"}],
    "editList": [{"key": "atom0", "inputs": ["input0"], "startTimeOffset": "0s"}],
    "elementaryStreams": [
        {"key": "video-stream0", "videoStream": {"h264": _h264(640, 360, 550000)}},
        {"key": "video-stream1", "videoStream": {"h264": _h264(1280, 720, 2500000)}},
        {
            "key": "audio-stream0",
            "audioStream": {
                "codec": "aac",
                "bitrateBps": 64000,
                "channelCount": 2,
                "channelLayout": ["fl", "fr"],
                "sampleRateHertz": 48000,
            },
        },
    ],
    "muxStreams": [
        {"key": "sd", "fileName": "sd.mp4", "container": "mp4",
         "elementaryStreams": ["video-stream0", "audio-stream0"]},
        {"key": "hd", "fileName": "hd.mp4", "container": "mp4",
         "elementaryStreams": ["video-stream1", "audio-stream0"]},
        {"key": "media-sd", "fileName": "media-sd.ts", "container": "ts",
         "elementaryStreams": ["video-stream0", "audio-stream0"]},
        {"key": "media-hd", "fileName": "media-hd.ts", "container": "ts",
         "elementaryStreams": ["video-stream1", "audio-stream0"]},
        {"key": "video-only-sd", "fileName": "video-only-sd.m4s", "container": "fmp4",
         "elementaryStreams": ["video-stream0"]},
        {"key": "video-only-hd", "fileName": "video-only-hd.m4s", "container": "fmp4",
         "elementaryStreams": ["video-stream1"]},
        {"key": "audio-only", "fileName": "audio-only.m4s", "container": "fmp4",
         "elementaryStreams": ["audio-stream0"]},
    ],
    "manifests": [
        {"fileName": "manifest.m3u8", "type": "HLS", "muxStreams": ["media-sd", "media-hd"]},
        {"fileName": "manifest.mpd", "type": "DASH", "muxStreams": ["video-only-sd", "video-only-hd", "audio-only"]},
    ],
}

PRESETS = {"preset/web-hd": _WEB_HD}
DEFAULT_TEMPLATE_ID = "preset/web-hd"


def preset_config(template_id: str) -> dict | None:
    config = PRESETS.get(template_id)
    return copy.deepcopy(config) if config is not None else None
