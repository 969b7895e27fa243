"""Upload rules without I/O: file names, the 2 GiB bound, chunk arithmetic, checksum forms, container sniffing,
the per-user start window and the compose tree."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from kstream.errors import ErrorCode, KstreamError, RequestInvalid
from kstream.uploads import compose, ratelimit, rules
from kstream.uploads.chunk_store import StoredChunk, judge
from kstream.validation import validate

from contracts.upload import MAX_UPLOAD_BYTES, VIDEO_EXTENSIONS, StartUploadRequest

MIB = 1024 * 1024


# -- names ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["episode 1.mp4", "사랑의 불시착 E01.mkv", "a.b.c.MOV", "x.webm"])
def test_plain_names_are_kept(name: str) -> None:
    assert rules.clean_filename(name) == name


def test_names_are_nfc_normalised() -> None:
    decomposed = "E\u0301pisode.mp4"
    assert rules.clean_filename(decomposed) == "\u00c9pisode.mp4"


@pytest.mark.parametrize("name", ["../etc/passwd.mp4", "dir/ep.mp4", "C:\\videos\\ep.mp4", "ep\x00.mp4",
                                  "ep\n.mp4", "ep\u202e4pm.exe", ".mp4", "..", " ", "e" * 300 + ".mp4"])
def test_paths_control_characters_and_empty_names_are_refused(name: str) -> None:
    with pytest.raises(RequestInvalid) as caught:
        rules.clean_filename(name)
    assert caught.value.details == {"field": "filename"}


@pytest.mark.parametrize(("name", "content_type"), [
    ("a.mp4", "video/mp4"), ("A.M4V", "video/mp4"), ("a.mov", "video/quicktime"), ("a.mkv", "video/x-matroska"),
    ("a.webm", "video/webm"), ("a.3gp", "video/3gpp"), ("KBS 드라마 E01.ts", "video/mp2t"),
    ("00001.M2TS", "video/mp2t"),
    ("clip.mts", "video/mp2t"), ("fan copy.avi", "video/x-msvideo"), ("old.WMV", "video/x-ms-wmv"),
    ("old.asf", "video/x-ms-asf"), ("master.mxf", "application/mxf"), ("playout.gxf", "video/x-gxf"),
])
def test_video_containers_the_transcoder_takes_are_accepted(name: str, content_type: str) -> None:
    assert rules.content_type_for(name) == content_type


def test_every_accepted_extension_has_a_content_type() -> None:
    assert set(rules.CONTENT_TYPES) == set(VIDEO_EXTENSIONS)
    assert not set(rules.REFUSED_EXTENSIONS) & set(VIDEO_EXTENSIONS)


@pytest.mark.parametrize(("name", "reason"), [
    ("clip.flv", "FLV is not accepted by the Transcoder API"),
    ("clip.F4V", "FLV (F4V) is not accepted by the Transcoder API"),
    ("ost.mp3", "audio-only uploads are not videos"),
    ("ost.wav", "audio-only uploads are not videos"),
    ("ost.aac", "audio-only uploads are not videos"),
    ("ost.m4a", "audio-only uploads are not videos"),
    ("poster.png", "image files are not videos"),
    ("poster.JPG", "image files are not videos"),
    ("photo.heic", "image files are not videos"),
    ("dvd.vob", "MPEG program streams are not an input the Transcoder API documents"),
    ("old.mpg", "MPEG program streams are not an input the Transcoder API documents"),
    ("ep1.ko.smi", "subtitle files are attached to an episode"),
    ("notes.txt", "not a video container the Transcoder API takes"),
    ("mp4", "not a video container the Transcoder API takes"),
    ("a.mp4.exe", "not a video container the Transcoder API takes"),
    ("a.", "not a video container the Transcoder API takes"),
])
def test_other_types_are_upload_invalid_format_listing_the_accepted_extensions(name: str, reason: str) -> None:
    with pytest.raises(KstreamError) as caught:
        rules.content_type_for(name)
    error = caught.value
    assert error.code == ErrorCode.UPLOAD_INVALID_FORMAT
    assert error.status == 400
    assert reason in str(error) and error.details["reason"].startswith(reason)
    assert "accepted extensions: " + ", ".join(VIDEO_EXTENSIONS) in str(error)
    assert error.details["supported"] == list(VIDEO_EXTENSIONS)
    assert error.details["field"] == "filename"


def test_storage_names_keep_letters_and_replace_the_rest() -> None:
    assert rules.storage_name("사랑 E01 [1080p]#?.mp4") == "사랑 E01 _1080p___.mp4"


# -- sizes and chunks ---------------------------------------------------------------------------------------------
def test_the_spec_example_has_287_chunks() -> None:
    assert rules.chunk_plan(1_500_000_000, 5 * MIB).count == 287


def test_two_gib_in_5_mib_chunks_is_410_with_a_short_last_chunk() -> None:
    plan = rules.chunk_plan(MAX_UPLOAD_BYTES, 5 * MIB)
    assert plan.count == 410
    assert plan.size_of(0) == 5 * MIB
    assert plan.size_of(409) == MAX_UPLOAD_BYTES - 409 * 5 * MIB == 3 * MIB
    assert sum(plan.size_of(i) for i in range(plan.count)) == MAX_UPLOAD_BYTES


def test_one_byte_over_2_gib_is_413_upload_file_too_large() -> None:
    with pytest.raises(KstreamError) as caught:
        rules.chunk_plan(MAX_UPLOAD_BYTES + 1, 5 * MIB)
    assert caught.value.code == ErrorCode.UPLOAD_FILE_TOO_LARGE
    assert caught.value.status == 413


@pytest.mark.parametrize("size", [5_000_000, 256 * 1024, 5 * MIB + 1, 512 * MIB])
def test_any_chunk_size_from_the_minimum_to_the_limit_is_taken(size: int) -> None:
    body = StartUploadRequest.model_validate({"filename": "e.mp4", "totalSize": 20_000_001, "chunkSize": size,
                                              "metadata": {"title": "t", "series": "s", "episode": 1}})
    plan = rules.chunk_plan(body.totalSize, body.chunkSize)
    assert plan.count == -(-20_000_001 // size)


def test_too_many_chunks_names_the_smallest_chunk_size_that_fits() -> None:
    with pytest.raises(RequestInvalid) as caught:
        rules.chunk_plan(MAX_UPLOAD_BYTES, 256 * 1024)
    assert caught.value.details["minChunkSize"] == 2 * MIB
    assert rules.chunk_plan(MAX_UPLOAD_BYTES, 2 * MIB).count == 1024


@pytest.mark.parametrize("field", [{"chunkSize": 256 * 1024 - 1}, {"chunkSize": 128 * 1024}, {"totalSize": 0},
                                   {"filename": ""}, {"metadata": {"title": "t", "series": "s"}},
                                   {"metadata": {"title": "t", "series": "s", "episode": 1, "language": "k o"}}])
def test_the_request_model_refuses_bad_fields(field: dict[str, object]) -> None:
    body = {"filename": "a.mp4", "totalSize": 10, "metadata": {"title": "t", "series": "s", "episode": 1}, **field}
    with pytest.raises(RequestInvalid):
        validate(StartUploadRequest, body, where="body")


def test_the_request_model_defaults_to_5_mib_chunks() -> None:
    body = validate(StartUploadRequest, {"filename": "a.mp4", "totalSize": 10,
                                         "metadata": {"title": "t", "series": "s", "episode": 1}}, where="body")
    assert body.chunkSize == 5 * MIB
    assert body.metadata.language == "ko"


@pytest.mark.parametrize("raw", ["x", "-1", "1.0", "٣", "9999999", "4"])
def test_bad_or_out_of_range_chunk_indexes_are_refused(raw: str) -> None:
    with pytest.raises(RequestInvalid):
        rules.chunk_index(raw, rules.ChunkPlan(4 * MIB, MIB))


def test_chunk_object_names_sort_in_chunk_order() -> None:
    names = [rules.chunk_object("a" * 32, i) for i in (0, 9, 10, 1023)]
    assert names == sorted(names)
    assert names[1] == "uploads/" + "a" * 32 + "/chunk-00009"
    assert [rules.index_of_chunk_object("a" * 32, n) for n in names] == [0, 9, 10, 1023]
    assert rules.index_of_chunk_object("a" * 32, "uploads/" + "a" * 32 + "/composed") is None


def test_judging_the_bucket_against_the_plan() -> None:
    plan = rules.ChunkPlan(10, 4)  # chunks of 4, 4, 2
    md5s = ["m0", "m1", "m2"]
    stored = {0: StoredChunk(0, "c0", 4, "m0", None), 1: StoredChunk(1, "c1", 3, "m1", None),
              2: StoredChunk(2, "c2", 2, "bad", None)}
    receipt = judge(plan, stored, md5s)
    assert receipt.received == [0]
    assert receipt.missing == [1, 2]
    assert receipt.wrong_size == [1]
    assert receipt.wrong_md5 == [2]
    assert receipt.next_expected == 1
    assert judge(plan, stored, None).wrong_md5 == []


# -- checksum forms -----------------------------------------------------------------------------------------------
def test_declared_md5s_accept_base64_and_hex() -> None:
    digest = hashlib.md5(b"chunk").digest()
    as_b64 = base64.b64encode(digest).decode()
    assert rules.md5_base64(digest.hex(), field="x") == as_b64
    assert rules.md5_base64(digest.hex().upper(), field="x") == as_b64
    assert rules.md5_base64(as_b64, field="x") == as_b64
    for bad in ("", "abc", digest.hex()[:-1], base64.b64encode(digest + b"x").decode()):
        with pytest.raises(RequestInvalid):
            rules.md5_base64(bad, field="x")


def test_declared_md5s_must_be_one_per_chunk() -> None:
    with pytest.raises(RequestInvalid) as caught:
        rules.declared_chunk_md5s(["0" * 32], rules.ChunkPlan(10, 4))
    assert caught.value.details["expected"] == 3


def test_chunk_checksum_header_is_hex_md5_or_sha256() -> None:
    assert rules.chunk_checksum("A" * 32) == rules.Checksum("md5", "a" * 32)
    assert rules.chunk_checksum("b" * 64).algorithm == "sha256"
    for bad in (None, "", "g" * 32, "a" * 40):
        with pytest.raises(RequestInvalid):
            rules.chunk_checksum(bad)


def test_final_checksum_forms() -> None:
    assert rules.final_checksum("F" * 32) == rules.Checksum("md5", "f" * 32)
    assert rules.final_checksum("0" * 64).algorithm == "sha256"
    crc = rules.final_checksum("crc32c:4waSgw==")
    assert crc == rules.Checksum("crc32c", "4waSgw==")
    assert str(crc) == "crc32c:4waSgw=="
    for bad in ("crc32c:", "crc32c:AAAAAAA=", "crc32c:!!!!", "md5:" + "0" * 32, "0" * 33):
        with pytest.raises(RequestInvalid):
            rules.final_checksum(bad)


# -- containers ----------------------------------------------------------------------------------------------------
def _ts(packet: int = 188, prefix: int = 0, packets: int = 8) -> bytes:
    one = bytes(prefix) + b"\x47" + bytes(packet - prefix - 1)
    return one * packets


def _mxf(op: bytes, run_in: int = 0, registry: int = 1) -> bytes:
    partition_key = bytes.fromhex("060e2b34020501010d01020101020400")
    fixed = bytes(64)  # versions, KAG size, offsets, counts, SIDs
    op_ul = bytes.fromhex("060e2b34040101") + bytes([registry]) + bytes.fromhex("0d010201") + op + b"\x00\x00"
    value = fixed + op_ul + bytes(8)
    return b"\x00" * run_in + partition_key + b"\x83" + len(value).to_bytes(3, "big") + value


def _asf(*stream_types: bytes) -> bytes:
    guid = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
    body = b"".join(b"\x00" * 24 + t + b"\x00" * 40 for t in stream_types)
    size = 30 + len(body)
    return guid + size.to_bytes(8, "little") + b"\x00" * 6 + body + b"\x00" * 50  # then the data object


ASF_VIDEO = bytes.fromhex("c0ef19bc4d5bcf11a8fd00805f5c442b")
ASF_AUDIO = bytes.fromhex("409e69f84d5bcf11a8fd00805f5c442b")


@pytest.mark.parametrize(("head", "found"), [
    (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00", "iso-bmff"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "iso-bmff"),
    (b"\x00\x00\x00\x08wide\x00\x00\x00\x00mdat", "iso-bmff"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "matroska"),
    (_ts(), "mpeg-ts"),
    (_ts(packets=2), "mpeg-ts"),  # a whole (tiny) file of transport packets
    (_ts(192, 4), "m2ts"),
    (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
    (_asf(ASF_VIDEO, ASF_AUDIO), "asf"),
    (_asf(ASF_VIDEO), "asf"),
    (_mxf(b"\x01\x01"), "mxf"),  # OP1a
    (_mxf(b"\x01\x01", run_in=60_000), "mxf"),  # behind a run-in (SMPTE 377: up to 64 KiB)
    (_mxf(b"\x01\x01", registry=2), "mxf"),
    (bytes.fromhex("0000000001bc0000015800000000e1e2") + bytes(64), "gxf"),
    (b"\x47" + bytes(400), None),  # one sync byte is not a transport stream
    (b"\x00\x00\x00\x00not a known format at all", None),
    (b"", None),
])
def test_container_sniffing(head: bytes, found: str | None) -> None:
    assert rules.sniff_container(head) == found


@pytest.mark.parametrize(("head", "detected", "says"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR", "png", "a PNG image: image files are not videos"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpeg", "a JPEG image"),
    (b"GIF89a\x01\x00\x01\x00", "gif", "a GIF image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp", "a WebP image"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "heif", "a HEIF/AVIF image"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "heif", "a HEIF/AVIF image"),
    (b"FLV\x01\x05\x00\x00\x00\x09", "flv", "FLV is not accepted by the Transcoder API"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "wav", "audio-only uploads are not videos"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "mpeg-audio", "audio-only uploads are not videos"),
    (b"\xff\xfb\x90\x64\x00\x00", "mpeg-audio", "an MP3/AAC audio file"),  # MPEG-1 layer III frame
    (b"\xff\xf1\x50\x80\x02\x1f\xfc", "mpeg-audio", "an MP3/AAC audio file"),  # ADTS AAC
    (b"fLaC\x00\x00\x00\x22", "flac", "audio-only"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A isom", "m4a", "an MPEG-4 audio file (M4A)"),
    (_asf(ASF_AUDIO), "asf-audio", "Windows Media audio"),
    (b"OggS\x00\x02", "ogg", "Ogg is not a container the Transcoder API takes"),
    (b"\x00\x00\x01\xba\x44\x00\x04\x00", "mpeg-ps", "an MPEG program stream"),
    (b"%PDF-1.7\n", "pdf", "a PDF document"),
    (b"PK\x03\x04\x14\x00", "zip", "a ZIP archive"),
    (_mxf(b"\x10\x03", registry=2), "mxf-op-atom", "MXF in OP1a only"),
    (_mxf(b"\x01\x02"), "mxf-op1b", "operational pattern OP1b"),
])
def test_files_that_are_not_videos_are_refused_naming_what_they_are(head: bytes, detected: str, says: str) -> None:
    with pytest.raises(KstreamError) as caught:
        rules.sniff_container(head)
    error = caught.value
    assert error.code == ErrorCode.UPLOAD_INVALID_FORMAT and error.status == 400
    assert error.details["detected"] == detected
    assert says in str(error)
    assert "accepted extensions: " + ", ".join(VIDEO_EXTENSIONS) in str(error)


def test_the_sniffed_head_covers_an_mxf_run_in() -> None:
    assert rules.SNIFF_BYTES >= rules.MXF_MAX_RUN_IN + 16 + 4 + 64 + 16
    assert rules.sniff_container(_mxf(b"\x01\x01", run_in=rules.MXF_MAX_RUN_IN)[: rules.SNIFF_BYTES]) == "mxf"


def test_an_unrecognised_file_gets_an_error_listing_the_accepted_extensions() -> None:
    error = rules.unrecognised_container("episode.ts")
    assert error.code == ErrorCode.UPLOAD_INVALID_FORMAT
    assert "'episode.ts' does not start like any video container" in str(error)
    assert error.details == {"filename": "episode.ts", "supported": list(VIDEO_EXTENSIONS)}


# -- the start window ----------------------------------------------------------------------------------------------
def _slots(*taken: float | None) -> list[ratelimit.Slot]:
    return [ratelimit.Slot(f"{k:03d}", at) for k, at in enumerate(taken)]


def test_a_slot_frees_when_its_start_leaves_the_sliding_hour() -> None:
    slots = _slots(None, 100.0, 3000.0)
    assert [s.key for s in ratelimit.free_slots(slots, 3650.0, 3600)] == ["000"]
    assert [s.key for s in ratelimit.free_slots(slots, 3700.0, 3600)] == ["000", "001"]


def test_a_full_window_answers_429_until_the_oldest_start_is_an_hour_old() -> None:
    slots = _slots(*[1000.0 + n for n in range(10)])
    assert ratelimit.free_slots(slots, 1500.0, 3600) == []
    refused = ratelimit.decision(slots, 1500.0, 10, 3600, allowed=False)
    assert refused.retry_after_seconds == 1000 + 3600 - 1500
    assert refused.headers() == {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                                 "X-RateLimit-Reset": "4600"}
    assert [s.key for s in ratelimit.free_slots(slots, 4600.0, 3600)] == ["000"]


def test_remaining_counts_the_slots_taken_within_the_hour() -> None:
    allowed = ratelimit.decision(_slots(10.0, None, 3000.0, 3500.0), 3700.0, 4, 3600, allowed=True)
    assert allowed.remaining == 2 and allowed.retry_after_seconds == 0
    assert allowed.reset_at == 3000.0 + 3600
    empty = ratelimit.decision(_slots(None, None), 50.0, 2, 3600, allowed=True)
    assert empty.remaining == 2 and empty.reset_at == 50.0


def test_retry_after_never_exceeds_the_window_when_another_instance_stamped_a_slot_just_after_now() -> None:
    refused = ratelimit.decision(_slots(1000.4, 1000.9), 1000.0, 2, 3600, allowed=False)
    assert refused.retry_after_seconds == 3600


# -- the compose tree -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("count", "levels"), [(1, [1]), (32, [1]), (33, [1, 1]), (205, [6, 1]), (410, [13, 1]),
                                               (1024, [32, 1]), (1025, [33, 1, 1])])
def test_compose_plan(count: int, levels: list[int]) -> None:
    assert compose.compose_plan(count) == levels


class FakeBlob:
    def __init__(self, bucket: FakeBucket, name: str) -> None:
        self.bucket, self.name, self.content_type, self.generation = bucket, name, None, 7

    def compose(self, sources: list[FakeBlob]) -> None:
        if not 1 <= len(sources) <= 32:
            raise ValueError(f"compose takes 1 to 32 sources, got {len(sources)}")
        self.bucket.calls.append(len(sources))
        self.bucket.objects[self.name] = b"".join(self.bucket.objects[s.name] for s in sources)

    def download_to_file(self, sink: Any, checksum: None, raw_download: bool, if_generation_match: int) -> None:
        data = self.bucket.objects[self.name]
        assert if_generation_match == self.generation
        for start in range(0, len(data), 8192):  # what the library does: the response in 8 KiB pieces
            self.bucket.reads.append(sink.write(data[start:start + 8192]))


class FakeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[int] = []
        self.reads: list[int] = []

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self, name)


def test_410_chunks_compose_in_14_calls_of_at_most_32_sources_in_order() -> None:
    bucket = FakeBucket()
    names = [f"c{i:05d}" for i in range(410)]
    for i, name in enumerate(names):
        bucket.objects[name] = i.to_bytes(2, "big")
    result = compose.compose_tree(bucket, names, "final", "scratch-", "video/mp4")  # type: ignore[arg-type]
    assert result.calls == 14 and result.levels == [13, 1]
    assert max(bucket.calls) == 32 and len(bucket.calls) == 14
    assert len(result.intermediates) == 13 and all(n.startswith("scratch-L1-") for n in result.intermediates)
    assert bucket.objects["final"] == b"".join(i.to_bytes(2, "big") for i in range(410))


def test_whole_file_digests_are_streamed_piece_by_piece() -> None:
    bucket = FakeBucket()
    data = bytes(range(256)) * 1000
    bucket.objects["f"] = data
    blob = bucket.blob("f")
    seen: list[int] = []
    assert compose.streamed_digest(blob, "md5", seen.append) == hashlib.md5(data).hexdigest()  # type: ignore[arg-type]
    assert max(bucket.reads) == 8192 and seen[-1] == len(data)
    assert compose.streamed_digest(blob, "sha256") == hashlib.sha256(data).hexdigest()  # type: ignore[arg-type]
