"""GET /api/stream/{videoId} and the local Cloud CDN, through the gateway, against the local cloud.

Fixture media (3 s, 320x180 and 256x144 fMP4 renditions named 720p and 360p, AAC audio, a progressive MP4) is made
with ffmpeg in the shape the pipeline writes (kstream.transcode.ladder, local_emulator/transcoder/manifests.py),
put into the media bucket under ``videos/<id>/`` and described in Firestore through the catalog service, so these
tests do not wait for a transcode.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore, storage
from kstream.catalog import videos as catalog
from kstream.catalog.repository import CatalogRepository
from kstream.cdn_signing import decode_key, sign_cookie, sign_url_prefix

from local_emulator import tokens
from local_emulator.stack import StackConfig
from tests.helpers import api_as, assert_envelope, token_for

KEY_NAME = "kstream-media-key"
DASH_NS = "{urn:mpeg:dash:schema:mpd:2011}"
RENDITIONS = {"720p": (320, 180), "360p": (256, 144)}
SECONDS = 3
ORIGIN = "https://app.kstream.test"


# ------------------------------------------------------------------------------------------------ fixture media


def _ffmpeg_media(out: Path) -> None:
    """The renditions, audio and progressive file, as the pipeline names them, in one ffmpeg run."""
    hls = ["-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
           "-hls_flags", "independent_segments", "-start_number", "0"]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "24", "-keyint_min", "24", "-sc_threshold", "0"]
    argv = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=24:duration={SECONDS}",
            "-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}:sample_rate=48000"]
    for name, (width, height) in RENDITIONS.items():
        argv += ["-map", "0:v", *x264, "-s", f"{width}x{height}", "-an", *hls,
                 "-hls_fmp4_init_filename", f"video-{name}-init.m4s",
                 "-hls_segment_filename", f"video-{name}%010d.m4s", f"video-{name}.m3u8"]
    argv += ["-map", "1:a", "-c:a", "aac", "-b:a", "64k", "-vn", *hls, "-hls_fmp4_init_filename", "audio-init.m4s",
             "-hls_segment_filename", "audio%010d.m4s", "audio.m3u8"]
    argv += ["-map", "0:v", "-map", "1:a", *x264, "-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart",
             "progressive.mp4"]
    subprocess.run(argv, cwd=out, check=True, timeout=120)


def _durations(playlist: Path) -> list[float]:
    return [float(line.split(":")[1].split(",")[0]) for line in playlist.read_text().splitlines()
            if line.startswith("#EXTINF:")]


def _avc(init: Path) -> str:
    data = init.read_bytes()
    at = data.find(b"avcC")
    return "avc1." + data[at + 5:at + 8].hex()


def _manifests(out: Path) -> None:
    """The HLS master and the DASH MPD over the same segments, as local_emulator/transcoder/manifests.py writes
    them (master: audio as an alternate rendition; MPD: SegmentTemplate with $Number%010d$ and a timeline)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS",
             '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="1",'
             'URI="audio.m3u8"']
    for name in ("360p", "720p"):
        width, height = RENDITIONS[name]
        size = sum(p.stat().st_size for p in out.glob(f"video-{name}0*.m4s"))
        bandwidth = size * 8 // SECONDS + 80_000
        lines += [f'#EXT-X-STREAM-INF:BANDWIDTH={bandwidth},CODECS="{_avc(out / f"video-{name}-init.m4s")},'
                  f'mp4a.40.2",RESOLUTION={width}x{height},FRAME-RATE=24.000,AUDIO="audio"', f"video-{name}.m3u8"]
    (out / "manifest.m3u8").write_text("\n".join(lines) + "\n")

    def template(stem: str, playlist: str) -> str:
        timeline = "".join(f'<S d="{round(d * 1000)}"/>' if i else f'<S t="0" d="{round(d * 1000)}"/>'
                           for i, d in enumerate(_durations(out / playlist)))
        return (f'<SegmentTemplate timescale="1000" initialization="{stem}-init.m4s" media="{stem}$Number%010d$.m4s"'
                f' startNumber="0"><SegmentTimeline>{timeline}</SegmentTimeline></SegmentTemplate>')

    videos = "".join(
        f'<Representation id="video-{name}" bandwidth="600000" codecs="{_avc(out / f"video-{name}-init.m4s")}" '
        f'width="{w}" height="{h}" frameRate="24" sar="1:1">{template(f"video-{name}", f"video-{name}.m3u8")}'
        "</Representation>" for name, (w, h) in RENDITIONS.items())
    mpd = (f'<?xml version="1.0" encoding="UTF-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
           f'profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static" '
           f'mediaPresentationDuration="PT{SECONDS}.000S" minBufferTime="PT1.000S"><Period id="0" start="PT0S">'
           f'<AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" '
           f'startWithSAP="1">{videos}</AdaptationSet>'
           f'<AdaptationSet id="1" contentType="audio" mimeType="audio/mp4"><Representation id="audio" '
           f'bandwidth="64000" codecs="mp4a.40.2" audioSamplingRate="48000">{template("audio", "audio.m3u8")}'
           "</Representation></AdaptationSet></Period></MPD>\n")
    (out / "manifest.mpd").write_text(mpd)


CONTENT_TYPES = {".m3u8": "application/x-mpegURL", ".mpd": "application/dash+xml", ".m4s": "video/iso.segment",
                 ".mp4": "video/mp4"}


@dataclass
class Media:
    cfg: StackConfig
    files: Path
    ready: str  # ready, 360p + 720p, HLS + DASH + progressive
    processing: str  # the uploader's own, still processing
    others_processing: str  # another uploader's, still processing
    big: str  # ready, only a 33 MiB progressive file
    uploader_email: str

    def prefix(self, video_id: str) -> str:
        return f"{self.cfg.gateway_url}/media/videos/{video_id}/"


def _upload(bucket: storage.Bucket, video_id: str, files: list[Path]) -> None:
    for path in files:
        blob = bucket.blob(f"videos/{video_id}/{path.name}")
        blob.upload_from_filename(str(path), content_type=CONTENT_TYPES[path.suffix])


@pytest.fixture(scope="module")
def media(local_cloud: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Media]:
    cfg = local_cloud
    out = tmp_path_factory.mktemp("stream-media")
    _ffmpeg_media(out)
    _manifests(out)
    tag = uuid.uuid4().hex[:10]
    uploader_email = f"stream-uploader-{tag}@kstream.local"
    uploader_id = tokens.ensure_user(cfg, uploader_email, "uploader")
    found = Media(cfg, out, f"st-ready-{tag}", f"st-proc-{tag}", f"st-other-{tag}", f"st-big-{tag}", uploader_email)

    bucket = storage.Client(project=cfg.project_id, credentials=AnonymousCredentials()).bucket(cfg.media_bucket)
    _upload(bucket, found.ready, sorted(out.iterdir()))
    big = out / "big" / "progressive.mp4"
    big.parent.mkdir()
    with big.open("wb") as handle:  # past the 32 MiB response cap of a function
        for _ in range(33):
            handle.write(os.urandom(1 << 20))
    _upload(bucket, found.big, [big])

    repo = CatalogRepository(firestore.Client(project=cfg.project_id))
    common = {"series": f"Stream Test {tag}", "uploader_username": "stream-uploader", "duration": SECONDS,
              "streaming_urls": {"hls": "", "dash": ""}, "repo": repo}
    catalog.upsert_video(video_id=found.ready, title="ready", episode=1, uploader_id=uploader_id,
                         available_qualities=["360p", "720p"], status="ready", **common)
    catalog.upsert_video(video_id=found.processing, title="processing", episode=2, uploader_id=uploader_id,
                         status="processing", **common)
    catalog.upsert_video(video_id=found.others_processing, title="others", episode=3, uploader_id="someone-else",
                         status="processing", **common)
    catalog.upsert_video(video_id=found.big, title="big", episode=4, uploader_id=uploader_id,
                         available_qualities=["720p"], status="ready", **common)
    yield found


def _cdn_key(cfg: StackConfig) -> bytes:
    return decode_key(cfg.cdn_key_file.read_text().strip())


def _uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def _stream(media: Media, video_id: str, role: str = "user", **params: str) -> requests.Response:
    email = media.uploader_email if role == "uploader" else None
    return api_as(media.cfg, role, email).get(f"/api/stream/{video_id}", params=params, allow_redirects=False)


# ------------------------------------------------------------------------------------------------------- HLS


def _playlist_links(master: str) -> list[str]:
    """Every playlist URI of a master: variants, then the URI= of EXT-X-MEDIA (audio, subtitles)."""
    return [*_uris(master), *re.findall(r'#EXT-X-MEDIA:[^\n]*URI="([^"]+)"', master)]


def test_hls_master_links_playlists_a_bare_player_can_follow(media: Media) -> None:
    """The master's playlist URIs come back to the stream function with the video's playback token, and the media
    playlists it answers list absolute signed CDN URLs: no header, no cookie needed (decision 0010). The cookie is
    still set for players that keep one."""
    response = _stream(media, media.ready)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert response.headers["Cache-Control"] == "private, max-age=60"
    variants = _uris(response.text)
    stream_url = f"{media.cfg.gateway_url}/api/stream/{media.ready}"
    assert [v.split("?")[0] for v in variants] == [stream_url, stream_url]
    queries = [parse_qs(urlsplit(v).query) for v in variants]
    assert [q["playlist"] for q in queries] == [["video-360p.m3u8"], ["video-720p.m3u8"]]
    assert all(q["token"] for q in queries)
    cookie = response.headers["Set-Cookie"]
    attributes = [part.strip() for part in cookie.split(";")]
    assert attributes[0].startswith("Cloud-CDN-Cookie=URLPrefix=")
    assert f"Path=/media/videos/{media.ready}/" in attributes and "HttpOnly" in attributes

    plain = requests.Session()  # a bare player: no Authorization, no cookie jar
    for link in _playlist_links(response.text):
        playlist = plain.get(link, timeout=10)
        assert playlist.status_code == 200, (link, playlist.text[:300])
        segments = _uris(playlist.text)
        assert segments and all("URLPrefix=" in u and "Signature=" in u for u in segments), playlist.text[:300]
    variant = plain.get(variants[0], timeout=10).text
    first = _uris(variant)[0]
    fetched = plain.get(first, timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert fetched.content == (media.files / "video-360p0000000000.m4s").read_bytes()
    assert fetched.headers["Cache-Control"] == "public, max-age=3600"
    assert plain.get(first.split("?")[0], timeout=10).status_code == 403  # the signature is what opens it


def test_hls_quality_is_a_one_variant_master_with_its_audio(media: Media) -> None:
    response = _stream(media, media.ready, quality="720p")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    variants = _uris(response.text)
    assert len(variants) == 1 and parse_qs(urlsplit(variants[0]).query)["playlist"] == ["video-720p.m3u8"]
    assert '#EXT-X-MEDIA:TYPE=AUDIO' in response.text  # it plays with sound
    playlist = requests.get(variants[0], timeout=10)
    assert playlist.status_code == 200
    found = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist.text)
    assert found is not None
    prefix = media.prefix(media.ready)
    urls = [found.group(1), *_uris(playlist.text)]
    assert [u.split("?")[0] for u in urls] == [prefix + "video-720p-init.m4s"] + [
        f"{prefix}video-720p000000000{i}.m4s" for i in range(3)]
    for url in urls:  # no cookie needed
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200, url
        assert fetched.content == (media.files / url.split("?")[0].rsplit("/", 1)[1]).read_bytes()


# ------------------------------------------------------------------------------------------------------ DASH


def _template_urls(mpd: str) -> list[str]:
    """Every URL a DASH player fetches: each representation's initialization and all its numbered segments."""
    urls = []
    for template in ET.fromstring(mpd).iter(f"{DASH_NS}SegmentTemplate"):
        urls.append(template.get("initialization", ""))
        count = sum(1 + int(s.get("r", "0")) for s in template.iter(f"{DASH_NS}S"))
        first = int(template.get("startNumber", "1"))
        urls += [template.get("media", "").replace("$Number%010d$", f"{n:010d}") for n in range(first, first + count)]
    return urls


def test_dash_manifest_with_signed_absolute_templates(media: Media) -> None:
    response = _stream(media, media.ready, format="dash")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/dash+xml"
    assert response.headers["Cache-Control"] == "private, max-age=60"
    urls = _template_urls(response.text)
    names = [url.split("?")[0].rsplit("/", 1)[1] for url in urls]
    assert sorted(names) == sorted(p.name for p in media.files.glob("*.m4s"))  # every segment, nothing else
    for url in urls:  # no cookie needed
        assert url.startswith(media.prefix(media.ready)) and "&Signature=" in url
        fetched = requests.get(url, timeout=10)
        assert fetched.status_code == 200, url
        assert fetched.content == (media.files / url.split("?")[0].rsplit("/", 1)[1]).read_bytes()

    only = _stream(media, media.ready, format="dash", quality="360p")
    ids = [rep.get("id") for rep in ET.fromstring(only.text).iter(f"{DASH_NS}Representation")]
    assert ids == ["video-360p", "audio"]


# -------------------------------------------------------------------------------------- progressive and ranges


def test_mp4_redirects_to_the_cdn_and_ranges_are_served_there(media: Media) -> None:
    response = _stream(media, media.ready, format="mp4")
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(media.prefix(media.ready) + "progressive.mp4?Expires=")
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.content == b""
    # A Range sent to the API still gets the redirect; the client re-sends it to the CDN.
    ranged = _stream(media, media.ready, format="mp4", quality="720p")
    assert ranged.status_code == 302
    data = (media.files / "progressive.mp4").read_bytes()
    size = len(data)
    followed = api_as(media.cfg, "user").get(f"/api/stream/{media.ready}", params={"format": "mp4"},
                                             headers={"Range": "bytes=100-199"})
    assert followed.status_code == 206 and followed.content == data[100:200]
    assert followed.history and followed.history[0].status_code == 302

    whole = requests.get(location, timeout=10)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers["Content-Length"] == str(size)
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Cache-Control"] == "public, max-age=3600"
    for header, first, last in (("bytes=0-1023", 0, 1023), ("bytes=5000-9999", 5000, 9999),
                                ("bytes=-500", size - 500, size - 1), (f"bytes={size - 300}-", size - 300, size - 1)):
        part = requests.get(location, headers={"Range": header}, timeout=10)
        assert part.status_code == 206, header
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert part.headers["Content-Length"] == str(last - first + 1)
        assert part.headers["Accept-Ranges"] == "bytes"
        assert part.content == data[first:last + 1]
    beyond = requests.get(location, headers={"Range": f"bytes={size}-"}, timeout=10)
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{size}"


def test_a_file_past_the_function_response_cap_streams_from_the_cdn(media: Media) -> None:
    response = _stream(media, media.big, format="mp4")
    assert response.status_code == 302 and len(response.content) == 0
    location = response.headers["Location"]
    expected = hashlib.sha256((media.files / "big" / "progressive.mp4").read_bytes()).hexdigest()
    digest = hashlib.sha256()
    with requests.get(location, stream=True, timeout=60) as whole:
        assert whole.status_code == 200
        assert whole.headers["Content-Length"] == str(33 << 20)
        for piece in whole.iter_content(1 << 20):
            digest.update(piece)
    assert digest.hexdigest() == expected
    size = 33 << 20
    tail = requests.get(location, headers={"Range": "bytes=-16"}, timeout=10)
    assert tail.status_code == 206 and tail.headers["Content-Range"] == f"bytes {size - 16}-{size - 1}/{size}"


# -------------------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("params", [{}, {"quality": "360p"}, {"format": "dash"}])
def test_manifest_answers_accept_byte_ranges_as_the_spec_shows(media: Media, params: dict[str, str]) -> None:
    whole = _stream(media, media.ready, **params)
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    api = api_as(media.cfg, "user")
    part = api.get(f"/api/stream/{media.ready}", params=params, headers={"Range": "bytes=0-6"})
    assert part.status_code == 206, part.text[:200]
    assert part.headers["Content-Range"].startswith("bytes 0-6/") and len(part.content) == 7
    past = api.get(f"/api/stream/{media.ready}", params=params, headers={"Range": "bytes=99999999-"})
    assert past.status_code == 416 and past.headers["Content-Range"].startswith("bytes */")
    for malformed in ("", "junk", "bytes=9-2", "items=0-5"):  # RFC 9110: ignored, the whole manifest
        ignored = api.get(f"/api/stream/{media.ready}", params=params, headers={"Range": malformed})
        assert ignored.status_code == 200 and "Content-Range" not in ignored.headers, malformed
        assert ignored.content[:32] == whole.content[:32], malformed


def test_statuses_of_the_stream_endpoint(media: Media) -> None:
    assert_envelope(_stream(media, f"st-nope-{uuid.uuid4().hex[:8]}"), 404, "STREAM_VIDEO_NOT_FOUND")
    assert_envelope(_stream(media, "bad..id"), 404, "STREAM_VIDEO_NOT_FOUND")
    assert_envelope(_stream(media, media.processing), 404, "STREAM_VIDEO_NOT_FOUND")  # hidden from a viewer
    own = assert_envelope(_stream(media, media.processing, "uploader"), 403, "STREAM_ACCESS_DENIED")
    assert own["details"]["status"] == "processing"
    assert_envelope(_stream(media, media.others_processing, "uploader"), 404, "STREAM_VIDEO_NOT_FOUND")
    missing = assert_envelope(_stream(media, media.ready, quality="1080p"), 404, "STREAM_QUALITY_NOT_AVAILABLE")
    assert missing["details"]["available"] == ["360p", "720p"]
    assert_envelope(_stream(media, media.ready, format="mp4", quality="360p"), 404, "STREAM_QUALITY_NOT_AVAILABLE")
    assert_envelope(_stream(media, media.big, format="dash"), 404, "STREAM_QUALITY_NOT_AVAILABLE")
    assert_envelope(_stream(media, media.ready, format="flv"), 400, "REQUEST_INVALID")
    assert_envelope(_stream(media, media.ready, quality="4k"), 400, "REQUEST_INVALID")
    assert_envelope(_stream(media, media.ready, colour="red"), 400, "REQUEST_INVALID")
    anonymous = requests.get(f"{media.cfg.gateway_url}/api/stream/{media.ready}", timeout=10)
    assert_envelope(anonymous, 401, "AUTH_INVALID_TOKEN")
    # the versioned path and the other roles answer the same
    versioned = api_as(media.cfg, "admin").get(f"/api/v1/stream/{media.ready}", params={"format": "dash"})
    assert versioned.status_code == 200 and versioned.headers["Content-Type"] == "application/dash+xml"


# ---------------------------------------------------------------------------------------------- CDN signatures


def test_the_cdn_refuses_tampered_expired_foreign_and_missing_signatures(media: Media) -> None:
    cfg = media.cfg
    key = _cdn_key(cfg)
    prefix = media.prefix(media.ready)
    segment = prefix + "video-360p0000000000.m4s"
    later = datetime.now(UTC) + timedelta(hours=1)
    good = sign_url_prefix(prefix, KEY_NAME, key, later)
    assert requests.get(f"{segment}?{good}", timeout=10).status_code == 200
    tampered_signature = good[:-5] + ("AAAA=" if not good.endswith("AAAA=") else "BBBB=")
    expired = sign_url_prefix(prefix, KEY_NAME, key, datetime.now(UTC) - timedelta(seconds=5))
    other_video = sign_url_prefix(media.prefix(media.big), KEY_NAME, key, later)
    wrong_key = sign_url_prefix(prefix, KEY_NAME, decode_key("8PHy8_T19vf4-fr7_P3-_w"), later)
    extended = good.replace(f"Expires={int(later.timestamp())}", f"Expires={int(later.timestamp()) + 86400}")
    for query in (tampered_signature, expired, other_video, wrong_key, extended, "Expires=1&KeyName=x"):
        refused = requests.get(f"{segment}?{query}", timeout=10)
        assert refused.status_code == 403, query
        assert refused.headers["Cache-Control"] == "no-store"
    assert requests.get(segment, timeout=10).status_code == 403
    # the same with the cookie
    cookie = sign_cookie(prefix, KEY_NAME, key, later)
    assert requests.get(segment, cookies={"Cloud-CDN-Cookie": cookie}, timeout=10).status_code == 200
    stale = sign_cookie(prefix, KEY_NAME, key, datetime.now(UTC) - timedelta(seconds=5))
    forged = cookie.replace(f"Expires={int(later.timestamp())}", f"Expires={int(later.timestamp()) + 60}")
    for value in (stale, forged, sign_cookie(media.prefix(media.big), KEY_NAME, key, later)):
        assert requests.get(segment, headers={"Cookie": f"Cloud-CDN-Cookie={value}"}, timeout=10).status_code == 403
    # a signed request for an object that does not exist is a 404, after the signature check
    assert requests.get(f"{prefix}nothing.m4s?{good}", timeout=10).status_code == 404


# ------------------------------------------------------------------------------------------------------- CORS


def test_cors_for_players(media: Media) -> None:
    cfg = media.cfg
    preflight = requests.options(f"{cfg.gateway_url}/api/stream/{media.ready}", timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,range"})
    assert preflight.status_code == 204
    assert "Range" in preflight.headers["Access-Control-Allow-Headers"]
    api = _stream(media, media.ready)
    exposed = {h.strip() for h in api.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Content-Range", "Content-Length", "Accept-Ranges"} <= exposed

    location = _stream(media, media.ready, format="mp4").headers["Location"]
    path = location.split("?")[0]
    cdn_preflight = requests.options(path, timeout=10, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"})
    assert cdn_preflight.status_code == 204
    assert cdn_preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert cdn_preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Range" in cdn_preflight.headers["Access-Control-Allow-Headers"]
    part = requests.get(location, headers={"Origin": ORIGIN, "Range": "bytes=0-9"}, timeout=10)
    assert part.status_code == 206
    assert part.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert part.headers["Access-Control-Allow-Credentials"] == "true"
    exposed = {h.strip() for h in part.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Content-Range", "Content-Length", "Accept-Ranges"} <= exposed
    refused = requests.get(path, headers={"Origin": ORIGIN}, timeout=10)
    assert refused.status_code == 403 and refused.headers["Access-Control-Allow-Origin"] == ORIGIN


# ---------------------------------------------------------------------------------------------------- ffprobe


def _ffprobe(url: str, headers: str | None = None) -> dict[str, object]:
    argv = ["ffprobe", "-v", "error", "-rw_timeout", "15000000"]
    if headers:
        argv += ["-headers", headers]
    argv += ["-show_entries", "stream=codec_type,codec_name,width,height:format=duration", "-of", "json", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


def _video_streams(probe: dict[str, object]) -> list[dict[str, object]]:
    return [s for s in probe["streams"] if s.get("codec_type") == "video"]  # type: ignore[attr-defined,union-attr]


def test_ffprobe_reads_the_progressive_url_the_api_returns(media: Media) -> None:
    location = _stream(media, media.ready, format="mp4").headers["Location"]
    probe = _ffprobe(location)
    video = _video_streams(probe)
    assert [(v["codec_name"], v["width"], v["height"]) for v in video] == [("h264", 320, 180)]
    assert {s["codec_type"] for s in probe["streams"]} == {"video", "audio"}  # type: ignore[attr-defined]
    assert abs(float(probe["format"]["duration"]) - SECONDS) < 0.5  # type: ignore[index]


@pytest.mark.parametrize(
    ("params", "sizes"),
    [
        ({}, {(256, 144), (320, 180)}),  # HLS master: variants signed, segments by the cookie ffmpeg keeps
        ({"quality": "360p"}, {(256, 144)}),  # HLS media playlist, every URI signed
        # (No DASH here: ffmpeg's DASH demuxer reads only one-digit template widths, and the pipeline names
        # segments $Number%010d$; Shaka and dash.js read it. The DASH test above fetches every template URL.)
    ],
)
def test_ffprobe_plays_what_the_stream_endpoint_answers(media: Media, params: dict[str, str],
                                                        sizes: set[tuple[int, int]]) -> None:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"{media.cfg.gateway_url}/api/stream/{media.ready}" + (f"?{query}" if query else "")
    probe = _ffprobe(url, headers=f"Authorization: Bearer {token_for(media.cfg, 'user')}\r\n")
    assert {(v["width"], v["height"]) for v in _video_streams(probe)} == sizes
    assert all(v["codec_name"] == "h264" for v in _video_streams(probe))
