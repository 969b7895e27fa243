"""GET /api/metadata/series/{seriesName} and the series document's consistency as episodes are added, become
ready, fail, change number, move to another series, are deleted or written concurrently."""

from __future__ import annotations

import threading
import urllib.parse
from typing import Any

from google.cloud import firestore
from kstream.auth import Principal
from kstream.catalog import videos
from kstream.catalog.search_text import series_key

from local_emulator.stack import StackConfig
from tests.emulator.test_catalog_api import repo_of, seed, user
from tests.helpers import api_as, assert_envelope

ADMIN = Principal("admin-1", "admin", "admin", ())


def series_path(name: str) -> str:
    return "/api/metadata/series/" + urllib.parse.quote(name, safe="")


def get(cfg: StackConfig, name: str, role: str = "user", email: str | None = None) -> dict[str, Any]:
    response = api_as(cfg, role, email).get(series_path(name))
    assert response.status_code == 200, response.text
    return dict(response.json())


def stored(cfg: StackConfig, name: str) -> dict[str, Any] | None:
    snapshot = firestore.Client(project=cfg.project_id).collection("series").document(series_key(name)).get()
    return snapshot.to_dict() if snapshot.exists else None


def test_series_aggregates_and_episode_order(local_cloud: StackConfig, unique: str) -> None:
    name = f"사랑의 불시착 {unique}"
    seed(local_cloud, f"e3{unique}", series=name, episode=3, title="3화", description="셋째", tags=["로맨스", "북한"],
         thumbnailUrl="/t3.jpg")
    seed(local_cloud, f"e1{unique}", series=name, episode=1, title="1화", description="첫 만남",
         tags=["로맨스", "Comedy"], thumbnailUrl="/t1.jpg")
    seed(local_cloud, f"e2{unique}", series=name, episode=2, title="2화", description="둘째",
         tags=["romance", "로맨스"], language="EN", thumbnailUrl="/t2.jpg")
    seed(local_cloud, f"e4{unique}", series=name, episode=4, title="4화", status="processing")
    seed(local_cloud, f"e5{unique}", series=name, episode=5, title="5화", status="failed")
    body = get(local_cloud, name)
    assert body["name"] == name
    assert body["description"] == "첫 만남" and body["thumbnailUrl"] == "/t1.jpg"  # the lowest ready episode's
    assert body["totalEpisodes"] == 4  # distinct episodes not failed
    assert body["availableEpisodes"] == [1, 2, 3]
    assert body["language"] == "ko"  # most frequent among ready episodes
    assert body["tags"] == ["로맨스", "Comedy", "romance", "북한"]  # by frequency, then first seen in episode order
    assert [e["episode"] for e in body["episodes"]] == [1, 2, 3]
    assert body["episodes"][0]["id"] == f"e1{unique}" and body["episodes"][0]["streamingUrls"]["hls"]


def test_series_name_is_matched_after_normalization(local_cloud: StackConfig, unique: str) -> None:
    name = f"Crash Landing on You {unique}"
    seed(local_cloud, f"n{unique}", series=name)
    for spelling in (name, name.upper(), f"  crash   landing on  you {unique}!!", f"Crásh Landing on You {unique}"):
        assert get(local_cloud, spelling)["name"] == name
    assert api_as(local_cloud, "user").get(f"/api/v1/metadata/series/{urllib.parse.quote(name)}").status_code == 200


def test_unknown_series_is_404(local_cloud: StackConfig, unique: str) -> None:
    for name in (f"never {unique}", " ", "!!!", "x" * 400):
        response = api_as(local_cloud, "user").get(series_path(name))
        assert_envelope(response, 404, "SERIES_NOT_FOUND")
    assert_envelope(api_as(local_cloud, None).get(series_path(f"never {unique}")), 401, "AUTH_INVALID_TOKEN")


def test_series_visibility_by_role(local_cloud: StackConfig, unique: str) -> None:
    owner, owner_email = user(local_cloud, "uploader", f"sowner{unique}")
    _, other_email = user(local_cloud, "uploader", f"sother{unique}")
    name = f"Hidden {unique}"
    seed(local_cloud, f"h1{unique}", series=name, episode=1, uploaderId=owner, status="processing")
    seed(local_cloud, f"h2{unique}", series=name, episode=2, uploaderId=owner, status="failed")
    assert_envelope(api_as(local_cloud, "user").get(series_path(name)), 404, "SERIES_NOT_FOUND")
    assert_envelope(api_as(local_cloud, "uploader", other_email).get(series_path(name)), 404, "SERIES_NOT_FOUND")
    mine = get(local_cloud, name, "uploader", owner_email)
    assert [e["status"] for e in mine["episodes"]] == ["processing", "failed"]
    assert mine["availableEpisodes"] == [] and mine["totalEpisodes"] == 1
    assert [e["episode"] for e in get(local_cloud, name, "admin")["episodes"]] == [1, 2]
    seed(local_cloud, f"h3{unique}", series=name, episode=3)
    assert [e["episode"] for e in get(local_cloud, name)["episodes"]] == [3]
    assert [e["episode"] for e in get(local_cloud, name, "uploader", owner_email)["episodes"]] == [1, 2, 3]


def test_another_uploaders_hidden_episode_never_shows_through_the_series(local_cloud: StackConfig,
                                                                        unique: str) -> None:
    """The series' description, thumbnail, tags and language come from episodes the caller can see."""
    other, _ = user(local_cloud, "uploader", f"hother{unique}")
    mine, my_email = user(local_cloud, "uploader", f"hmine{unique}")
    name = f"Secret Lead {unique}"
    seed(local_cloud, f"s1{unique}", series=name, episode=1, uploaderId=other, status="processing",
         description="unreleased plot twist", thumbnailUrl="/secret.jpg", tags=["spoiler"], language="ja")
    seed(local_cloud, f"s2{unique}", series=name, episode=2, uploaderId=mine, status="processing",
         description="my episode", thumbnailUrl="/mine.jpg", tags=["mine"], language="ko")
    body = get(local_cloud, name, "uploader", my_email)
    assert [e["id"] for e in body["episodes"]] == [f"s2{unique}"]
    assert "spoiler" not in body["tags"] and "/secret.jpg" not in str(body) and "twist" not in str(body)
    assert (body["description"], body["thumbnailUrl"], body["language"]) == ("my episode", "/mine.jpg", "ko")
    admin = get(local_cloud, name, "admin")
    assert admin["description"] == "unreleased plot twist"  # admins see the stored face


def test_series_follows_status_changes_moves_and_deletes(local_cloud: StackConfig, unique: str) -> None:
    repo = repo_of(local_cloud)
    first, second = f"First {unique}", f"Second {unique}"
    seed(local_cloud, f"m1{unique}", series=first, episode=1, description="one", status="processing")
    seed(local_cloud, f"m2{unique}", series=first, episode=2, description="two")
    body = get(local_cloud, first, "admin")
    assert body["availableEpisodes"] == [2] and body["description"] == "two"  # lead: lowest *ready* episode

    videos.mark_ready(video_id=f"m1{unique}", available_qualities=["720p"], streaming_urls={"hls": "/m1.m3u8"},
                       repo=repo)
    body = get(local_cloud, first)
    assert body["availableEpisodes"] == [1, 2] and body["description"] == "one"

    videos.mark_failed(video_id=f"m1{unique}", reason="bad", repo=repo)
    body = get(local_cloud, first, "admin")
    assert body["availableEpisodes"] == [2] and body["totalEpisodes"] == 1 and body["description"] == "two"

    seed(local_cloud, f"m2{unique}", series=first, episode=7, description="seven")  # renumbered
    assert get(local_cloud, first)["availableEpisodes"] == [7]

    seed(local_cloud, f"m2{unique}", series=second, episode=1, description="moved")  # to another series
    assert get(local_cloud, second)["availableEpisodes"] == [1]
    assert get(local_cloud, second)["description"] == "moved"
    assert_envelope(api_as(local_cloud, "user").get(series_path(first)), 404, "SERIES_NOT_FOUND")
    assert [e["id"] for e in get(local_cloud, first, "admin")["episodes"]] == [f"m1{unique}"]  # failed one stays

    videos.delete_video(video_id=f"m1{unique}", by=ADMIN, repo=repo)
    assert stored(local_cloud, first) is None  # the last episode left: the series document goes too
    assert_envelope(api_as(local_cloud, "admin").get(series_path(first)), 404, "SERIES_NOT_FOUND")
    videos.delete_video(video_id=f"m2{unique}", by=ADMIN, repo=repo)
    assert stored(local_cloud, second) is None


def test_lead_change_reads_the_new_lead(local_cloud: StackConfig, unique: str) -> None:
    name = f"Lead {unique}"
    seed(local_cloud, f"l1{unique}", series=name, episode=1, description="d1", thumbnailUrl="/1.jpg")
    seed(local_cloud, f"l2{unique}", series=name, episode=2, description="d2", thumbnailUrl="/2.jpg")
    seed(local_cloud, f"l3{unique}", series=name, episode=3, description="d3")  # lead unchanged: no extra read
    videos.delete_video(video_id=f"l1{unique}", by=ADMIN, repo=repo_of(local_cloud))
    body = get(local_cloud, name)
    assert (body["description"], body["thumbnailUrl"], body["availableEpisodes"]) == ("d2", "/2.jpg", [2, 3])


def test_concurrent_episode_writes_all_land_in_the_series(local_cloud: StackConfig, unique: str) -> None:
    name = f"Busy series {unique}"
    errors: list[BaseException] = []

    def write(episode: int) -> None:
        try:
            seed(local_cloud, f"c{episode}{unique}", series=name, episode=episode)
        except BaseException as exc:  # reported below
            errors.append(exc)

    # Four writers on one series document: the emulator resolves their lock conflicts by timeouts (~1.5 s each), so
    # more would only make the test slow; the transactions retry until every write lands.
    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    body = get(local_cloud, name)
    assert body["availableEpisodes"] == [1, 2, 3, 4] and body["totalEpisodes"] == 4
    assert [e["episode"] for e in body["episodes"]] == [1, 2, 3, 4]
    document = stored(local_cloud, name)
    assert document is not None and len(document["episodes"]) == 4
