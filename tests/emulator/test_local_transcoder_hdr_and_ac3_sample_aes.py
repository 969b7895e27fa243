"""HLG / HDR10 conversion and SAMPLE-AES with AC-3 / E-AC-3 audio through the local Transcoder (official client over
REST, real ffmpeg): the colour tags, pixel format and signal levels ffprobe and PyAV read back (SDR white at 75 % HLG
and 203 cd/m2 PQ, as ITU-R BT.2408 maps it), HDR10's mastering display and light level side data; SAMPLE-AES TS
segments whose AC-3 and E-AC-3 frames decode, with the key, exactly as the same job's clear segments do (and not
without it). Media are tiny: a 2 s 320x180 10 fps white clip with a tone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import m3u8
import pytest

from tests.emulator.test_local_transcoder_harness import (
    BUCKET,
    PROJECT,
    Cloud,
    ffmpeg,
    ffprobe,
    start_cloud_with_secrets,
)

SECRET = f"projects/{PROJECT}/secrets/dolby-keys/versions/1"
KEY, KID, IV = "2b7e151628aed2a6abf7158809cf4f3c", "d569cb35bd0548c7a99d92feb381df13", "0f" * 16
VIDEO = {"heightPixels": 180, "widthPixels": 320, "bitrateBps": 400_000, "frameRate": 10, "gopDuration": "1s"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory) -> Cloud:
    tmp = tmp_path_factory.mktemp("transcoder-hdr-ac3")
    keys = {"encryptionKeys": [{"keyId": KID, "key": KEY, "iv": IV, "keyUri": f"skd://{KID}"}]}
    yield from start_cloud_with_secrets(tmp, SECRET, keys)


@pytest.fixture(scope="module")
def white(cloud: Cloud) -> str:
    path = cloud.tmp / "white.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=320x180:r=10:d=2", "-f", "lavfi",
           "-i", "sine=frequency=440:sample_rate=48000:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return cloud.upload("hdr/in/white.mp4", path.read_bytes())


def _centre_luma(path: Path) -> int:
    """The 10-bit luma code value at the centre of the first frame."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).reformat(format="yuv420p10le")
        luma = frame.planes[0]
        at = frame.height // 2 * luma.line_size + frame.width // 2 * 2
        return int.from_bytes(bytes(luma)[at:at + 2], "little")


def test_hlg_and_hdr10_are_converted_and_tagged(cloud: Cloud, white: str) -> None:
    folder = cloud.run({"inputUri": white, "outputUri": f"gs://{BUCKET}/hdr/out/", "config": {
        "elementaryStreams": [
            {"key": "avc-hlg", "videoStream": {"h264": {**VIDEO, "pixelFormat": "yuv420p10", "hlg": {}}}},
            {"key": "hevc-hdr10", "videoStream": {"h265": {**VIDEO, "pixelFormat": "yuv420p10", "profile": "main10",
                                                           "hdr10": {}}}},
            {"key": "vp9-hlg", "videoStream": {"vp9": {**VIDEO, "pixelFormat": "yuv420p10", "hlg": {}}}},
            {"key": "avc-sdr", "videoStream": {"h264": {**VIDEO, "sdr": {}}}}],
        "muxStreams": [{"key": key, "container": "mp4", "elementaryStreams": [key]}
                       for key in ("avc-hlg", "hevc-hdr10", "vp9-hlg", "avc-sdr")]}})

    def tags(name: str) -> tuple:
        stream = ffprobe(folder / f"{name}.mp4", "-select_streams", "v:0")["streams"][0]
        return (stream["codec_name"], stream["pix_fmt"], stream.get("color_primaries"), stream.get("color_transfer"),
                stream.get("color_space"))

    assert tags("avc-hlg") == ("h264", "yuv420p10le", "bt2020", "arib-std-b67", "bt2020nc")
    assert tags("hevc-hdr10") == ("hevc", "yuv420p10le", "bt2020", "smpte2084", "bt2020nc")
    assert tags("vp9-hlg") == ("vp9", "yuv420p10le", "bt2020", "arib-std-b67", "bt2020nc")
    assert tags("avc-sdr")[:2] == ("h264", "yuv420p") and tags("avc-sdr")[3] in (None, "unknown")
    # SDR white (Y' 235) at BT.2408's levels: 75 % HLG signal, 58 % PQ (203 cd/m2) -> 10-bit codes 721 and 573
    assert abs(_centre_luma(folder / "avc-hlg.mp4") - 721) <= 6
    assert abs(_centre_luma(folder / "vp9-hlg.mp4") - 721) <= 6
    assert abs(_centre_luma(folder / "hevc-hdr10.mp4") - 573) <= 6
    side = ffprobe(folder / "hevc-hdr10.mp4", "-select_streams", "v:0", "-show_frames", "-read_intervals", "%+#1")
    kinds = {d["side_data_type"]: d for d in side["frames"][0].get("side_data_list", [])}
    assert kinds["Content light level metadata"]["max_content"] == 203
    assert kinds["Mastering display metadata"]["max_luminance"] == "10000000/10000"
    for name in ("avc-hlg", "hevc-hdr10", "vp9-hlg"):
        assert abs(float(ffprobe(folder / f"{name}.mp4")["format"]["duration"]) - 2.0) < 0.15, name


def _frame_hashes(path: Path, options: dict | None = None) -> list[str]:
    level = av.logging.get_level()
    av.logging.set_level(av.logging.PANIC)  # a keyless decode logs every damaged frame
    try:
        with av.open(str(path), options=options or {}) as container:
            hashes = []
            try:
                for frame in container.decode(audio=0):
                    hashes.append(hashlib.md5(bytes(frame.planes[0])).hexdigest())
            except av.FFmpegError:
                pass  # ciphertext read as AC-3: the decoder gives up
            return hashes
    finally:
        av.logging.set_level(level)


def _local_playlist(folder: Path, playlist: str) -> Path:
    """The media playlist with a local key file; its last segment listed twice (FFmpeg's HLS demuxer decrypts the
    packets its parser holds at a segment's end with the next segment's key state)."""
    (folder / "key.bin").write_bytes(bytes.fromhex(KEY))
    uris = [s.uri for s in m3u8.load(str(folder / playlist)).segments]
    path = folder / f"local-{playlist}"
    path.write_text("\n".join(["#EXTM3U", "#EXT-X-TARGETDURATION:1", "#EXT-X-PLAYLIST-TYPE:VOD",
                               f'#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin",IV=0x{IV}']
                              + [f"#EXTINF:1.0,\n{uri}" for uri in [*uris, uris[-1]]] + ["#EXT-X-ENDLIST"]) + "\n")
    return path


def test_sample_aes_ac3_and_eac3_decrypt_to_the_clear_frames(cloud: Cloud, white: str) -> None:
    seg = {"segmentDuration": "1s", "individualSegments": True}
    folder = cloud.run({"inputUri": white, "outputUri": f"gs://{BUCKET}/hdr/sample-aes/", "config": {
        "elementaryStreams": [{"key": "v", "videoStream": {"h264": VIDEO}},
                              {"key": "ac3", "audioStream": {"codec": "ac3", "bitrateBps": 96000}},
                              {"key": "eac3", "audioStream": {"codec": "eac3", "bitrateBps": 96000}}],
        "muxStreams": [
            {"key": "clear-ac3", "container": "ts", "elementaryStreams": ["v", "ac3"], "segmentSettings": seg},
            {"key": "clear-eac3", "container": "ts", "elementaryStreams": ["eac3"], "segmentSettings": seg},
            {"key": "fairplay-ac3", "container": "ts", "elementaryStreams": ["v", "ac3"], "segmentSettings": seg,
             "encryptionId": "fairplay"},
            {"key": "fairplay-eac3", "container": "ts", "elementaryStreams": ["eac3"], "segmentSettings": seg,
             "encryptionId": "fairplay"}],
        "manifests": [{"type": "HLS", "fileName": "clear.m3u8", "muxStreams": ["clear-ac3", "clear-eac3"]},
                      {"type": "HLS", "fileName": "fairplay.m3u8", "muxStreams": ["fairplay-ac3", "fairplay-eac3"]}],
        "encryptions": [{"id": "fairplay", "sampleAes": {}, "secretManagerKeySource": {"secretVersion": SECRET},
                         "drmSystems": {"fairplay": {}}}]}})
    for codec in ("ac3", "eac3"):
        playlist = m3u8.load(str(folder / f"fairplay-{codec}.m3u8"))
        assert [(k.method, k.uri, k.keyformat) for k in playlist.keys] == [
            ("SAMPLE-AES", f"skd://{KID}", "com.apple.streamingkeydelivery")]
        first = (folder / playlist.segments[0].uri).read_bytes()
        types = {s["codec_name"]: s for s in ffprobe(folder / playlist.segments[0].uri)["streams"]}
        assert codec in types, types
        # the PMT: stream type 0xc1 (AC-3) / 0xc2 (E-AC-3), private data indicator 'ac3d' / 'ec3d', audio setup
        assert bytes([0xC1 if codec == "ac3" else 0xC2]) in first[:188 * 4]
        assert (b"ac3d" if codec == "ac3" else b"ec3d") in first[:188 * 4]
        assert (b"apadzac3" if codec == "ac3" else b"apadzec3") in first[:188 * 4]
        want = _frame_hashes(folder / f"clear-{codec}.m3u8")
        got = _frame_hashes(_local_playlist(folder, f"fairplay-{codec}.m3u8"), {"allowed_extensions": "ALL"})
        assert len(want) >= 2 * 48000 // 1536 - 2 and got[:len(want)] == want, codec
        assert _frame_hashes(folder / playlist.segments[0].uri) != want[:len(want) // 2], codec  # no key: damaged
