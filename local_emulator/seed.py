"""The sample series behind ``make dev``: two short episodes of an original series, "별빛 정원 (Starlight Garden)",
made with ffmpeg and sent through the real pipeline (upload → compose → transcode → ready) by the demo uploader.

    seed_sample(cfg, say) -> [SeededEpisode]

1. the demo users exist in the Auth emulator (``viewer@kstream.local``, role user; ``uploader@kstream.local``,
   role uploader; password ``tokens.DEMO_PASSWORD``);
2. each episode's file is made once and kept under ``.local/samples/`` (its name carries a hash of its recipe, so
   a changed recipe makes a new file and a second ``make dev`` makes none);
3. episodes the catalogue already has (same series and number, not failed) are kept, the others are uploaded with
   the upload client library (``kstream.client``: signed chunk PUTs straight to storage, then complete);
4. each upload attaches Korean and English subtitles before it completes, so the Transcoder job carries them (as
   uploaders really send them: episode 1 a Korean SAMI file in CP949 and an English SubRip file, episode 2 a UTF-8
   Korean SubRip file and an English WebVTT file);
5. it waits until every episode is ``ready`` (GET /api/videos/{id}); ``failed`` or a timeout is a SeedFailed
   naming the video and what to look at.

Episode 1 is 1280x720, so the ladder gives it two renditions (360p, 720p) to switch between; episode 2 is 640x360.
``make dev`` keeps its data across restarts (.local/data, decision 0009), so the episodes are uploaded only when the
catalogue lacks them: the first start (or one after ``make dev FRESH=1``) takes about half a minute more.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from . import tokens
from .processes import StartupError
from .stack import DEFAULT_STATE_DIR, FUNCTIONS_DIR, StackConfig

if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.append(str(FUNCTIONS_DIR))

from kstream.client import ApiError, UploadApi, Uploader, UploadFailed
from kstream.client.uploader import SubtitleFile

__all__ = ["DEMO_UPLOADER", "DEMO_VIEWER", "EPISODES", "SERIES", "SampleEpisode", "SeedFailed", "SeededEpisode",
           "make_sample", "make_subtitles", "seed_sample"]

Say = Callable[[str, str], None]

SERIES = "별빛 정원 (Starlight Garden)"
DEMO_VIEWER = "viewer@kstream.local"
DEMO_UPLOADER = "uploader@kstream.local"
SAMPLES_DIR = DEFAULT_STATE_DIR / "samples"
READY_TIMEOUT_SECONDS = 300.0
POLL_SECONDS = 1.0
_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
          "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf")


class SeedFailed(StartupError):
    """The sample series could not be made or did not become playable; the message says which step and why."""


@dataclass(frozen=True)
class SampleEpisode:
    episode: int
    title: str
    description: str
    width: int
    height: int
    seconds: float
    colours: tuple[str, str, str, str]  # the night sky's gradient, 0xRRGGBB
    chord: tuple[float, float, float]  # Hz: a soft chord, so the audio rendition has something in it

    @property
    def recipe(self) -> str:
        return f"v1|{self.episode}|{self.width}x{self.height}|{self.seconds}|{self.colours}|{self.chord}"

    @property
    def filename(self) -> str:
        digest = hashlib.sha256(self.recipe.encode()).hexdigest()[:10]
        return f"starlight-garden-e{self.episode:02d}-{self.height}p-{digest}.mp4"


EPISODES = (
    SampleEpisode(
        episode=1,
        title="1화 · 별이 떨어진 밤 (The Night a Star Fell)",
        description="서울의 낡은 온실을 물려받은 정원사 한별은 별똥별이 떨어진 밤, 꽃 사이에서 빛나는 씨앗을 "
                    "발견한다. / Han-byeol, a gardener who inherits a crumbling Seoul greenhouse, finds a glowing "
                    "seed among the flowers on the night a star falls.",
        width=1280, height=720, seconds=10.0,
        colours=("0x0b1033", "0x3a1c71", "0x1d4350", "0xd76d77"),
        chord=(220.0, 277.18, 329.63),
    ),
    SampleEpisode(
        episode=2,
        title="2화 · 유리 온실의 약속 (A Promise in the Glass House)",
        description="씨앗이 자라며 온실에는 밤마다 별빛이 내려앉고, 천문학자 서윤이 그 빛을 쫓아 찾아온다. / As the "
                    "seed grows, starlight settles on the greenhouse every night, and astronomer Seo-yun comes "
                    "looking for its source.",
        width=640, height=360, seconds=10.0,
        colours=("0x141e30", "0x243b55", "0x2c5364", "0xf0c27b"),
        chord=(196.0, 246.94, 293.66),
    ),
)
TAGS = ["romance", "fantasy", "로맨스", "판타지", "sample"]

# (start, end, Korean, English): the lines both languages of an episode carry
DIALOGUE: dict[int, tuple[tuple[float, float, str, str], ...]] = {
    1: ((0.5, 3.5, "어젯밤에 어디 있었어?", "Where were you last night?"),
        (4.0, 6.5, "온실에서 별이 떨어지는 걸 봤어.", "I saw a star fall into the greenhouse."),
        (7.0, 9.5, "그 씨앗… 빛나고 있어.", "That seed... it's glowing.")),
    2: ((0.5, 3.5, "매일 밤 여기로 별빛이 내려와요.", "Starlight comes down here every night."),
        (4.0, 6.5, "저는 천문학자 서윤이에요.", "I'm Seo-yun, an astronomer."),
        (7.0, 9.5, "그 빛을 따라왔어요.", "I followed the light.")),
}


@dataclass(frozen=True)
class SeededEpisode:
    episode: int
    video_id: str
    title: str
    uploaded: bool  # False: the catalogue already had it


# -- the files -------------------------------------------------------------------------------------------------
def _font() -> str | None:
    return next((path for path in _FONTS if Path(path).exists()), None)


def _ffmpeg_argv(sample: SampleEpisode, output: Path) -> list[str]:
    c0, c1, c2, c3 = sample.colours
    # The gradient is drawn small and scaled up: it is smooth anyway, and four times cheaper.
    video = (f"gradients=s=320x180:r=24:d={sample.seconds}:c0={c0}:c1={c1}:c2={c2}:c3={c3}:nb_colors=4:speed=0.03,"
             f"scale={sample.width}:{sample.height}")
    font = _font()
    if font:
        video += (f",drawtext=fontfile={font}:text='STARLIGHT GARDEN':fontcolor=white:fontsize=h/12:"
                  f"x=(w-tw)/2:y=h*0.36,"
                  f"drawtext=fontfile={font}:text='Episode {sample.episode}   %{{pts\\:hms}}':fontcolor=white@0.85:"
                  f"fontsize=h/22:x=(w-tw)/2:y=h*0.55")
    a, b, c = sample.chord
    audio = (f"aevalsrc=0.08*sin(2*PI*{a}*t)+0.06*sin(2*PI*{b}*t)+0.05*sin(2*PI*{c}*t):s=48000:"
             f"d={sample.seconds}")
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio,
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-pix_fmt", "yuv420p", "-g", "48",
            "-c:a", "aac", "-b:a", "96k", "-ac", "2", "-shortest", "-movflags", "+faststart", str(output)]


def make_sample(sample: SampleEpisode, directory: Path = SAMPLES_DIR) -> Path:
    """The episode's file under ``directory``, made with ffmpeg unless it is already there."""
    target = directory / sample.filename
    for stale in directory.glob(f"starlight-garden-e{sample.episode:02d}-*.mp4"):  # made by an older recipe
        if stale != target:
            stale.unlink(missing_ok=True)
    if target.exists() and target.stat().st_size > 0:
        return target
    if shutil.which("ffmpeg") is None:
        raise SeedFailed("ffmpeg is not on PATH: the sample series is made with it (apt-get install -y ffmpeg), "
                         "or start without it: python -m local_emulator up --no-seed")
    directory.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial.mp4")
    done = subprocess.run(_ffmpeg_argv(sample, partial), capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise SeedFailed(f"ffmpeg could not make sample episode {sample.episode}: {done.stderr.strip()[-600:]}")
    partial.replace(target)
    return target


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    return (f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}"
            f"{separator}{millis % 1000:03d}")


def _srt(lines: list[tuple[float, float, str]]) -> str:
    return "".join(f"{n}\n{_clock(a, ',')} --> {_clock(b, ',')}\n{text}\n\n" for n, (a, b, text) in
                   enumerate(lines, 1))


def _vtt(lines: list[tuple[float, float, str]]) -> str:
    return "WEBVTT\n\n" + "".join(f"{_clock(a, '.')} --> {_clock(b, '.')}\n{text}\n\n" for a, b, text in lines)


def _sami(lines: list[tuple[float, float, str]]) -> str:
    """A SAMI file as Korean fansubs make them: a <STYLE> naming the class, a <SYNC> per cue and an &nbsp; one
    to end it."""
    body = "".join(f"<SYNC Start={round(a * 1000)}><P Class=KRCC>{text}\n<SYNC Start={round(b * 1000)}>"
                   "<P Class=KRCC>&nbsp;\n" for a, b, text in lines)
    return ("<SAMI>\n<HEAD>\n<TITLE>별빛 정원</TITLE>\n<STYLE TYPE=\"text/css\">\n<!--\n"
            "P { margin-left:8pt; margin-right:8pt; text-align:center; font-size:20pt; }\n"
            ".KRCC { Name:한국어; lang:ko-KR; SAMIType:CC; }\n-->\n</STYLE>\n</HEAD>\n<BODY>\n"
            f"{body}</BODY>\n</SAMI>\n")


def make_subtitles(sample: SampleEpisode, directory: Path = SAMPLES_DIR) -> list[SubtitleFile]:
    """The episode's Korean (default) and English subtitle files under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    dialogue = DIALOGUE[sample.episode]
    korean = [(a, b, ko) for a, b, ko, _ in dialogue]
    english = [(a, b, en) for a, b, _, en in dialogue]
    stem = f"starlight-garden-e{sample.episode:02d}"
    if sample.episode == 1:
        files = {f"{stem}.ko.smi": _sami(korean).encode("cp949"), f"{stem}.en.srt": _srt(english).encode()}
    else:
        files = {f"{stem}.ko.srt": _srt(korean).encode(), f"{stem}.en.vtt": _vtt(english).encode()}
    for name, data in files.items():
        (directory / name).write_bytes(data)
    ko, en = (directory / name for name in files)
    return [SubtitleFile("ko", ko, default=True), SubtitleFile("en", en)]


# -- the catalogue ---------------------------------------------------------------------------------------------
def _get(cfg: StackConfig, token: str, path: str) -> requests.Response:
    return requests.get(cfg.gateway_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _existing(cfg: StackConfig, token: str) -> dict[int, dict[str, Any]]:
    """Episodes of the sample series the catalogue has (ready or processing), by number."""
    response = _get(cfg, token, f"/api/metadata/series/{urllib.parse.quote(SERIES, safe='')}")
    if response.status_code == 404:
        return {}
    if not response.ok:
        raise SeedFailed(f"GET series {SERIES!r} answered {response.status_code}: {response.text[:300]}")
    return {int(v["episode"]): v for v in response.json().get("episodes", []) if v.get("status") != "failed"}


def _upload(cfg: StackConfig, token: str, sample: SampleEpisode, path: Path, say: Say) -> str:
    uploader = Uploader(UploadApi(cfg.gateway_url, token), parallel=2, show_progress=False,
                        state_dir=Path(cfg.state_dir) / "seed-uploads", log=lambda line: say("seed", line))
    metadata = {"title": sample.title, "series": SERIES, "episode": sample.episode,
                "description": sample.description, "language": "ko", "tags": TAGS}
    try:
        return uploader.upload(path, metadata, subtitles=make_subtitles(sample, path.parent)).video_id
    except (UploadFailed, ApiError, requests.RequestException) as exc:
        raise SeedFailed(f"uploading sample episode {sample.episode} failed: {exc}") from None


def _wait_ready(cfg: StackConfig, token: str, video_ids: dict[int, str], say: Say, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = dict(video_ids)
    next_note = time.monotonic() + 15
    while waiting:
        for episode, video_id in list(waiting.items()):
            response = _get(cfg, token, f"/api/videos/{video_id}")
            status = response.json().get("status") if response.ok else None
            if status == "ready":
                say("seed", f"episode {episode} is ready (video {video_id})")
                del waiting[episode]
            elif status == "failed":
                raise SeedFailed(f"sample episode {episode} (video {video_id}) failed in the pipeline; the "
                                 "transcoder and functions lines above say why")
        if not waiting:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"episode {e} (video {v})" for e, v in waiting.items())
            raise SeedFailed(f"{names} did not become ready within {timeout:.0f}s; the transcoder, eventarc and "
                             "functions lines above show where the pipeline stopped")
        if time.monotonic() > next_note:
            say("seed", f"still transcoding: episodes {', '.join(map(str, waiting))}")
            next_note = time.monotonic() + 15
        time.sleep(POLL_SECONDS)


def seed_sample(cfg: StackConfig, say: Say, *, uploader_email: str = DEMO_UPLOADER,
                samples_dir: Path = SAMPLES_DIR, timeout: float = READY_TIMEOUT_SECONDS) -> list[SeededEpisode]:
    """Make the sample series playable in the running local cloud ``cfg`` (idempotent); says the player URL."""
    started = time.monotonic()
    try:
        tokens.ensure_user(cfg, DEMO_VIEWER, "user")
        tokens.ensure_user(cfg, DEMO_UPLOADER, "uploader")
        token = tokens.user_token(cfg, "uploader", uploader_email)
    except (RuntimeError, OSError) as exc:
        raise SeedFailed(f"could not create the demo users in the Auth emulator: {exc}") from None
    files = {sample.episode: make_sample(sample, samples_dir) for sample in EPISODES}
    have = _existing(cfg, token)
    todo = [sample for sample in EPISODES if sample.episode not in have]
    if todo:
        say("seed", f"uploading {len(todo)} sample episode(s) of {SERIES} through the pipeline")
    with ThreadPoolExecutor(max_workers=max(1, len(todo)), thread_name_prefix="seed") as pool:
        uploads = {s.episode: pool.submit(_upload, cfg, token, s, files[s.episode], say) for s in todo}
        video_ids = {episode: future.result() for episode, future in uploads.items()}
    video_ids.update({s.episode: str(have[s.episode]["id"]) for s in EPISODES if s.episode not in video_ids})
    _wait_ready(cfg, token, {s.episode: video_ids[s.episode] for s in EPISODES}, say, timeout)
    say("seed", f"{SERIES}: {len(EPISODES)} episodes ready in {time.monotonic() - started:.1f}s")
    say("seed", f"player: {cfg.gateway_url}/  (sign in as {DEMO_VIEWER} or {DEMO_UPLOADER}, "
                f"password {tokens.DEMO_PASSWORD})")
    return [SeededEpisode(s.episode, video_ids[s.episode], s.title, s.episode in uploads) for s in EPISODES]
