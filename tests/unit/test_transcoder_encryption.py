"""Pure tests of the local Transcoder's encryption: JobConfig.encryptions validation, the Secret Manager stand-in and
the key choice per mux stream, AES-128 segment encryption of a media playlist (files and byte ranges), pssh boxes, the
cbcs pattern, SAMPLE-AES NAL units and ADTS frames."""

from __future__ import annotations

import base64
import copy
import json
import struct
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from local_emulator.transcoder import encryption, fmp4_encryption, ts_sample_aes
from local_emulator.transcoder.config import normalize_job
from local_emulator.transcoder.errors import ApiError
from local_emulator.transcoder.ffmpeg_plan import PlannedMux

PARENT = "projects/p/locations/us-central1"
SECRET = "projects/p/secrets/keys/versions/3"
KEY = "00112233445566778899aabbccddeeff"
BASE = {
    "elementaryStreams": [
        {"key": "v", "videoStream": {"h264": {"heightPixels": 360, "bitrateBps": 800000, "frameRate": 30}}},
        {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 128000}},
    ],
    "muxStreams": [
        {"key": "ts", "container": "ts", "elementaryStreams": ["v", "a"], "encryptionId": "aes"},
        {"key": "video", "container": "fmp4", "elementaryStreams": ["v"], "encryptionId": "drm"},
        {"key": "audio", "container": "fmp4", "elementaryStreams": ["a"], "encryptionId": "drm"},
    ],
    "manifests": [{"type": "HLS", "muxStreams": ["ts"]}, {"type": "DASH", "muxStreams": ["video", "audio"]}],
    "encryptions": [
        {"id": "aes", "aes128": {}, "secretManagerKeySource": {"secretVersion": SECRET},
         "drmSystems": {"clearkey": {}}},
        {"id": "drm", "mpegCenc": {"scheme": "cenc"}, "secretManagerKeySource": {"secretVersion": SECRET},
         "drmSystems": {"widevine": {}, "playready": {}}},
    ],
}


def job(mutate=None) -> dict:
    config = copy.deepcopy(BASE)
    if mutate:
        mutate(config)
    return normalize_job({"inputUri": "gs://media/in/ep1.mp4", "outputUri": "gs://media/out/", "config": config}, {},
                         PARENT)


def error_of(mutate) -> ApiError:
    with pytest.raises(ApiError) as caught:
        job(mutate)
    return caught.value


def test_encryptions_are_normalised_and_kept_on_the_mux_streams() -> None:
    config = job()["config"]
    assert config["encryptions"] == [
        {"id": "aes", "aes128": {}, "secretManagerKeySource": {"secretVersion": SECRET},
         "drmSystems": {"clearkey": {}}},
        {"id": "drm", "mpegCenc": {"scheme": "cenc"}, "secretManagerKeySource": {"secretVersion": SECRET},
         "drmSystems": {"widevine": {}, "playready": {}}}]
    assert [m.get("encryptionId") for m in config["muxStreams"]] == ["aes", "drm", "drm"]


def test_snake_case_aes_128_is_the_aes128_field() -> None:
    def snake(config: dict) -> None:
        config["encryptions"][0] = {"id": "aes", "aes_128": {}, "secret_manager_key_source": {
            "secret_version": SECRET}, "drm_systems": {"clearkey": {}}}
    assert job(snake)["config"]["encryptions"][0]["aes128"] == {}


@pytest.mark.parametrize(("mutate", "status", "message"), [
    (lambda c: c["encryptions"][0].update(sampleAes={}), "INVALID_ARGUMENT",
     "job.config.encryptions[0]: aes128, sampleAes and mpegCenc are a oneof"),
    (lambda c: c["encryptions"][1]["mpegCenc"].pop("scheme"), "INVALID_ARGUMENT",
     "job.config.encryptions[1].mpegCenc.scheme is required"),
    (lambda c: c["encryptions"][1].update(id="aes"), "INVALID_ARGUMENT",
     "job.config.encryptions[1].id: duplicate encryption id 'aes'"),
    (lambda c: c["encryptions"][1].update(drmSystems={"fairplay": {}}), "INVALID_ARGUMENT",
     "job.config.encryptions[1].drmSystems.fairplay: FairPlay needs mpegCenc.scheme 'cbcs'"),
    (lambda c: c["encryptions"][1].update(drmSystems={"fairplay": {}}, mpegCenc={"scheme": "cbcs"}),
     "INVALID_ARGUMENT", "job.config.muxStreams[1].encryptionId: a DASH manifest (job.config.manifests[1]) needs "
                         "drmSystems widevine or playready"),
    (lambda c: c["encryptions"][1]["drmSystems"].update(primetime={}), "INVALID_ARGUMENT",
     "unknown field 'primetime' in job.config.encryptions[1].drmSystems"),
    (lambda c: c["encryptions"][0]["secretManagerKeySource"].update(secretVersion="projects/p/secrets/k"),
     "INVALID_ARGUMENT", "job.config.encryptions[0].secretManagerKeySource.secretVersion"),
    (lambda c: c["muxStreams"][0].update(container="mp4", segmentSettings=None), "INVALID_ARGUMENT",
     "job.config.manifests[0].muxStreams[0]"),
])
def test_refusals_name_the_field(mutate, status: str, message: str) -> None:
    error = error_of(mutate)
    assert (error.status, message in error.message) == (status, True), error.message


@pytest.mark.parametrize(("stream", "status", "message"), [
    ({"key": "v", "videoStream": {"h265": {"heightPixels": 360, "bitrateBps": 800000, "frameRate": 30}}},
     "INVALID_ARGUMENT", "sampleAes encryption covers H.264 video only; elementary stream 'v' is h265"),
    ({"key": "a", "audioStream": {"codec": "mp3", "bitrateBps": 128000}}, "INVALID_ARGUMENT",
     "job.config.muxStreams[0].encryptionId: sampleAes encryption covers AAC, AC-3 and E-AC-3 audio; elementary "
     "stream 'a' is mp3"),
])
def test_sample_aes_codecs(stream: dict, status: str, message: str) -> None:
    def sample_aes(config: dict) -> None:
        config["elementaryStreams"] = [stream if s["key"] == stream["key"] else s for s in config["elementaryStreams"]]
        config["encryptions"][0] = {"id": "aes", "sampleAes": {}, "secretManagerKeySource": {
            "secretVersion": SECRET}, "drmSystems": {"fairplay": {}}}
        config["muxStreams"], config["manifests"] = config["muxStreams"][:1], config["manifests"][:1]
        config["encryptions"] = config["encryptions"][:1]
    error = error_of(sample_aes)
    assert (error.status, message in error.message) == (status, True), error.message


def test_cbcs_goes_to_hls_fmp4_with_fairplay_and_to_dash_with_widevine() -> None:
    def cbcs(config: dict) -> None:
        config["muxStreams"].append({"key": "hls-fmp4", "container": "fmp4", "elementaryStreams": ["v"],
                                     "encryptionId": "fairplay"})
        config["manifests"][0]["muxStreams"].append("hls-fmp4")
        config["encryptions"][1]["mpegCenc"]["scheme"] = "cbcs"
        config["encryptions"].append({"id": "fairplay", "mpegCenc": {"scheme": "cbcs"}, "drmSystems": {
            "fairplay": {}}, "secretManagerKeySource": {"secretVersion": SECRET}})
    config = job(cbcs)["config"]
    assert [e["mpegCenc"]["scheme"] for e in config["encryptions"][1:]] == ["cbcs", "cbcs"]


def test_sample_aes_goes_to_ts_with_fairplay() -> None:
    def sample_aes(config: dict) -> None:
        config["encryptions"][0] = {"id": "aes", "sampleAes": {}, "secretManagerKeySource": {
            "secretVersion": SECRET}, "drmSystems": {"fairplay": {}}}
    assert job(sample_aes)["config"]["encryptions"][0]["sampleAes"] == {}
    error = error_of(lambda c: c["encryptions"][0].update(aes128=None, sampleAes={}))
    assert "job.config.encryptions[0].drmSystems.clearkey: clearkey is not supported with sampleAes" in error.message


# ------------------------------------------------------------------------------------------------ keys


def test_secret_directory(tmp_path) -> None:
    with pytest.raises(ApiError) as caught:
        encryption.SecretDirectory(None).access(SECRET)
    assert caught.value.status == "FAILED_PRECONDITION" and "--secrets-dir" in caught.value.message
    with pytest.raises(ApiError) as caught:
        encryption.SecretDirectory(str(tmp_path)).access(SECRET)
    assert caught.value.status == "NOT_FOUND" and SECRET in caught.value.message
    path = tmp_path.joinpath(*SECRET.split("/"))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"payload")
    assert encryption.SecretDirectory(str(tmp_path)).access(SECRET) == b"payload"


PAYLOAD = json.dumps({"encryptionKeys": [
    {"keyId": "11" * 16, "key": "22" * 16, "keyUri": "skd://one", "matchers": [{"muxStreams": ["ts"]}]},
    {"keyId": "33" * 16, "key": "44" * 16, "iv": "55" * 16}]}).encode()


def test_a_mux_stream_takes_the_key_whose_matchers_name_it_else_the_one_without_matchers() -> None:
    named = encryption.content_key(PAYLOAD, SECRET, "ts", need_uri=True, need_key_id=False)
    assert named == encryption.ContentKey(bytes.fromhex("22" * 16), bytes.fromhex("11" * 16), None, "skd://one")
    default = encryption.content_key(PAYLOAD, SECRET, "video", need_uri=False, need_key_id=True)
    assert (default.key, default.iv, default.uri) == (bytes.fromhex("44" * 16), bytes.fromhex("55" * 16), "")


@pytest.mark.parametrize(("payload", "kwargs", "message"), [
    (b"not json", {}, "the payload must be JSON with an 'encryptionKeys' list"),
    (json.dumps({"encryptionKeys": [{"key": KEY, "matchers": [{"muxStreams": ["x"]}]}]}).encode(), {},
     "no entry of encryptionKeys matches mux stream 'ts'"),
    (json.dumps({"encryptionKeys": [{"key": "abc"}]}).encode(), {}, "key must be 32 hexadecimal digits"),
    (json.dumps({"encryptionKeys": [{"key": KEY}]}).encode(), {"need_uri": True}, "keyUri is required"),
    (json.dumps({"encryptionKeys": [{"key": KEY}]}).encode(), {"need_key_id": True}, "keyId must be 32"),
])
def test_bad_secret_payloads_fail_naming_the_secret(payload: bytes, kwargs: dict, message: str) -> None:
    options = {"need_uri": False, "need_key_id": False, **kwargs}
    with pytest.raises(ApiError) as caught:
        encryption.content_key(payload, SECRET, "ts", **options)
    assert caught.value.status == "INVALID_ARGUMENT"
    assert SECRET in caught.value.message and message in caught.value.message, caught.value.message


# ------------------------------------------------------------------------------------------------ AES-128 HLS


def _mux(individual: bool) -> PlannedMux:
    return PlannedMux("ts", "ts.ts", "ts", None, None, segment_seconds=6.0, individual_segments=individual)


def _playlist(lines: list[str]) -> str:
    head = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-TARGETDURATION:6", "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-INDEPENDENT-SEGMENTS"]
    return "\n".join(head + lines + ["#EXT-X-ENDLIST"]) + "\n"


def test_single_file_byte_ranges_are_encrypted_one_by_one_with_the_sequence_number_iv(tmp_path) -> None:
    first, second = bytes(range(256)) * 3 + b"\x47" * 4, b"\x47" * 188 * 2
    (tmp_path / "ts.ts").write_bytes(first + second)
    (tmp_path / "ts.m3u8").write_text(_playlist([
        "#EXTINF:6.000000,", f"#EXT-X-BYTERANGE:{len(first)}@0", "ts.ts",
        "#EXTINF:2.000000,", f"#EXT-X-BYTERANGE:{len(second)}@{len(first)}", "ts.ts"]))
    key = encryption.ContentKey(bytes.fromhex(KEY), None, None, "https://keys.test/k")
    encryption._encrypt_hls_aes128(str(tmp_path), _mux(False), key)

    lines = (tmp_path / "ts.m3u8").read_text().splitlines()
    assert lines[6] == '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.test/k"'
    ranges = [tuple(int(n) for n in ln.split(":")[1].split("@")) for ln in lines if ln.startswith("#EXT-X-BYTERANGE")]
    assert ranges == [(784, 0), (384, 784)]  # PKCS#7 pads each range to the next 16 bytes (772 -> 784, 376 -> 384)
    data = (tmp_path / "ts.ts").read_bytes()
    assert len(data) == 784 + 384
    assert encryption.aes128_cbc_decrypt(data[:784], key.key, (0).to_bytes(16, "big")) == first
    assert encryption.aes128_cbc_decrypt(data[784:], key.key, (1).to_bytes(16, "big")) == second


def test_segment_files_are_encrypted_with_an_explicit_iv_when_the_secret_has_one(tmp_path) -> None:
    segments = [b"\x47" * 188 * 3, b"\x47" * 188]
    for n, data in enumerate(segments):
        (tmp_path / f"ts{n:010d}.ts").write_bytes(data)
    (tmp_path / "ts.m3u8").write_text(_playlist(["#EXTINF:6.000000,", "ts0000000000.ts",
                                                 "#EXTINF:1.000000,", "ts0000000001.ts"]))
    iv = bytes.fromhex("0f" * 16)
    key = encryption.ContentKey(bytes.fromhex(KEY), None, iv, "skd://k")
    encryption._encrypt_hls_aes128(str(tmp_path), _mux(True), key)
    assert '#EXT-X-KEY:METHOD=AES-128,URI="skd://k",IV=0x' + "0f" * 16 in (tmp_path / "ts.m3u8").read_text()
    for n, data in enumerate(segments):
        encrypted = (tmp_path / f"ts{n:010d}.ts").read_bytes()
        assert encrypted != data and encryption.aes128_cbc_decrypt(encrypted, key.key, iv) == data


# ------------------------------------------------------------------------------------------------ DRM signalling


def _box(data: bytes) -> tuple[bytes, uuid.UUID, bytes]:
    size, kind, version_flags = struct.unpack(">I4sI", data[:12])
    assert size == len(data) and version_flags == 0
    (length,) = struct.unpack(">I", data[28:32])
    return kind, uuid.UUID(bytes=data[12:28]), data[32:32 + length]


def test_pssh_boxes_carry_the_key_id() -> None:
    kid = bytes.fromhex("0123456789abcdef0123456789abcdef")
    assert _box(encryption.widevine_pssh(kid)) == (b"pssh", encryption.WIDEVINE, b"\x12\x10" + kid)
    kind, system, pro = _box(encryption.playready_pssh(kid))
    assert (kind, system) == (b"pssh", encryption.PLAYREADY)
    assert struct.unpack("<IHHH", pro[:10]) == (len(pro), 1, 1, len(pro) - 10)
    header = pro[10:].decode("utf-16-le")
    assert f"<KID>{base64.b64encode(uuid.UUID(bytes=kid).bytes_le).decode()}</KID>" in header


def test_widevine_and_playready_name_the_cbcs_scheme() -> None:
    kid = bytes(range(16))
    assert _box(encryption.widevine_pssh(kid, "cbcs"))[2] == b"\x12\x10" + kid + b"\x48\xf3\xc6\x89\x9b\x06"
    header = _box(encryption.playready_pssh(kid, "cbcs"))[2][10:].decode("utf-16-le")
    assert 'version="4.3.0.0"' in header and 'ALGID="AESCBC"' in header


def test_cbcs_pattern_encrypts_one_block_in_ten_and_leaves_a_partial_block_clear() -> None:
    key, iv = bytes(range(16)), bytes(16)
    data = bytes(range(256)) * 2 + b"tail"  # 32 whole blocks and 4 bytes
    out = fmp4_encryption.cbcs_protect(data, key, iv, 1, 9)
    changed = [i for i in range(33) if out[16 * i:16 * i + 16] != data[16 * i:16 * i + 16]]
    assert changed == [0, 10, 20, 30]
    chain = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()  # the chain runs across the encrypted blocks
    assert b"".join(out[16 * i:16 * i + 16] for i in changed) == chain.update(
        b"".join(data[16 * i:16 * i + 16] for i in changed))
    whole = fmp4_encryption.cbcs_protect(data, key, iv, 1, 0)  # audio: every whole block, the tail clear
    assert whole[-4:] == b"tail" and whole[:-4] == Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor().update(
        data[:-4])


def test_dash_elements_of_a_cenc_stream() -> None:
    kid = bytes.fromhex("0123456789abcdef0123456789abcdef")
    protection = encryption.Protection("mpegCenc", "cenc", encryption.ContentKey(b"k" * 16, kid, None, ""),
                                       ("widevine",))
    elements = protection.dash_elements()
    assert [(tag, attrs.get("schemeIdUri"), attrs.get("cenc:default_KID")) for tag, attrs, _ in elements] == [
        ("ContentProtection", "urn:mpeg:dash:mp4protection:2011", "01234567-89ab-cdef-0123-456789abcdef"),
        ("ContentProtection", f"urn:uuid:{encryption.WIDEVINE}", None)]
    assert base64.b64decode(elements[1][2]) == encryption.widevine_pssh(kid)


# ------------------------------------------------------------------------------------------------ SAMPLE-AES


def _ffmpeg_style_decrypt(nal: bytes, key: bytes, iv: bytes) -> bytes:
    """What FFmpeg's hls_sample_encryption.c does to a slice NAL unit: drop the emulation prevention bytes, then
    decrypt the pattern from byte 32."""
    data, i = bytearray(), 0
    while i < len(nal):
        if len(nal) - i > 3 and nal[i:i + 3] == b"\x00\x00\x03":
            data += nal[i:i + 2]
            i += 3
        else:
            data.append(nal[i])
            i += 1
    decryptor, at, remaining = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor(), 32, len(data) - 32
    while remaining > 0:
        if remaining > 16:
            data[at:at + 16] = decryptor.update(bytes(data[at:at + 16]))
            at, remaining = at + 16, remaining - 16
        step = min(144, remaining)
        at, remaining = at + step, remaining - step
    return bytes(data)


def test_sample_aes_nal_units_round_trip_through_the_readers_algorithm() -> None:
    key, iv = bytes(range(16)), bytes(range(16, 32))
    payload = bytearray(bytes(range(1, 256)) * 3)
    payload[100:103] = b"\x00\x00\x00"  # zeros the escaping must protect
    nal = ts_sample_aes.escape(b"\x65" + bytes(payload))
    encrypted = ts_sample_aes.sample_aes_nal(nal, key, iv)
    assert encrypted[:32] == nal[:32] and encrypted != nal
    assert b"\x00\x00\x01" not in encrypted and b"\x00\x00\x00" not in encrypted
    assert _ffmpeg_style_decrypt(encrypted, key, iv) == nal
    short, sei = b"\x65" + bytes(47), b"\x06" + bytes(range(1, 200))
    assert ts_sample_aes.sample_aes_nal(short, key, iv) == short and ts_sample_aes.sample_aes_nal(sei, key, iv) == sei


def test_sample_aes_adts_frames_keep_header_and_leader_clear() -> None:
    key, iv = bytes(range(16)), bytes(16)
    body = bytes(range(7, 107))  # 100 bytes after a 7-byte header: 16 clear, 5 blocks encrypted, 4 clear
    length = 7 + len(body)
    header = bytes([0xFF, 0xF1, 0x50, 0x80 | (length >> 11), (length >> 3) & 0xFF, ((length & 7) << 5) | 0x1F, 0xFC])
    frames = (header + body) * 2
    out = ts_sample_aes.sample_aes_audio(frames, key, iv)
    for at in (0, length):
        assert out[at:at + 23] == frames[at:at + 23] and out[at + 103:at + length] == frames[at + 103:at + length]
        block = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor().update(frames[at + 23:at + 103])
        assert out[at + 23:at + 103] == block  # the IV is reset for every frame
