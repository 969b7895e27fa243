"""GET /api/metadata/videos/search through the gateway: every parameter, combinations, Hangul and Latin text,
ranking, sorting, paging (page numbers and pageToken), visibility by role and every 400.

The catalogue below is seeded once per module; every video carries a tag unique to this run (``tags=T`` isolates
the module's videos from other tests sharing the emulator).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from kstream.catalog.search_text import normalize

from local_emulator.stack import StackConfig
from tests.emulator.test_catalog_api import seed, user
from tests.helpers import api_as, assert_envelope

SEARCH = "/api/metadata/videos/search"


@dataclass
class Catalog:
    cfg: StackConfig
    marker: str
    tag: str
    up1: str
    up1_email: str
    up2: str
    up2_email: str
    ids: dict[str, str]

    def search(self, role: str | None = "user", email: str | None = None, **params: Any) -> requests.Response:
        return api_as(self.cfg, role, email).get(SEARCH, params=params)

    def ok(self, role: str = "user", email: str | None = None, **params: Any) -> dict[str, Any]:
        response = self.search(role, email, **params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def names(self, body: dict[str, Any]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id.get(v["id"], v["id"]) for v in body["videos"]]


@pytest.fixture(scope="module")
def catalog(local_cloud: StackConfig) -> Catalog:
    m = "zq" + uuid.uuid4().hex[:8]
    tag = f"tag{m}"
    up1, up1_email = user(local_cloud, "uploader", f"s1{m}")
    up2, up2_email = user(local_cloud, "uploader", f"s2{m}")
    cloy = f"사랑의 불시착 {m}"
    specs: list[tuple[str, dict[str, Any]]] = [
        ("cloy1", {"title": "사랑의 불시착", "series": cloy, "episode": 1, "description": "재벌 상속녀 윤세리",
                   "tags": [tag, "로맨스"], "uploaderId": up1}),
        ("cloy2", {"title": "사랑의 불시착 2화", "series": cloy, "episode": 2, "tags": [tag], "uploaderId": up1}),
        ("cloy3", {"title": "불시착 스페셜", "series": f"Specials {m}", "episode": 3,
                   "description": "사랑의 불시착 촬영지", "tags": [tag], "uploaderId": up1}),
        ("crash", {"title": "Crash Landing on You", "series": f"Crash Landing {m}", "episode": 1,
                   "description": "사랑의 불시착, English title", "tags": [tag, "Romance"], "language": "en"}),
        ("cafe", {"title": "Café Minamdang", "series": f"Cafe {m}", "episode": 5, "description": "a crash course",
                  "tags": [tag, f"mys{m}"], "uploaderId": up2}),
        ("goblin", {"title": "도깨비", "series": f"Goblin {m}", "episode": 2, "description": "사랑 이야기",
                    "tags": [tag, f"fan{m}"]}),
        ("busy", {"title": "사랑 processing", "series": cloy, "episode": 4, "tags": [tag], "uploaderId": up1,
                  "status": "processing"}),
        ("broken", {"title": "Failed upload", "series": f"Crash Landing {m}", "episode": 2, "tags": [tag],
                    "uploaderId": up2, "status": "failed"}),
    ]
    ids: dict[str, str] = {}
    for name, spec in specs:  # seeded in this order: uploadDate follows it
        ids[name] = f"{name}{m}"
        seed(local_cloud, ids[name], **spec)
        time.sleep(0.002)
    return Catalog(local_cloud, m, tag, up1, up1_email, up2, up2_email, ids)


READY_BY_TITLE = ["cafe", "crash", "goblin", "cloy3", "cloy1", "cloy2"]  # normalized titles, Latin before Hangul


# -- defaults, visibility -------------------------------------------------------------------------------------
def test_defaults_and_response_shape(catalog: Catalog) -> None:
    body = catalog.ok(tags=catalog.tag)
    assert {k: body[k] for k in ("total", "page", "limit", "totalPages", "totalExact")} == {
        "total": 6, "page": 1, "limit": 20, "totalPages": 1, "totalExact": True}
    assert "nextPageToken" not in body
    assert catalog.names(body) == READY_BY_TITLE
    first = body["videos"][0]
    assert set(first) >= {"id", "title", "series", "episode", "description", "duration", "fileSize",
                          "availableQualities", "thumbnailUrl", "uploadDate", "uploader", "streamingUrls"}
    v1 = api_as(catalog.cfg, "user").get("/api/v1/metadata/videos/search", params={"tags": catalog.tag})
    assert v1.status_code == 200 and catalog.names(v1.json()) == READY_BY_TITLE


def test_visibility_by_role(catalog: Catalog) -> None:
    viewer = catalog.ok(tags=catalog.tag)
    assert sorted(catalog.names(viewer)) == sorted(READY_BY_TITLE)
    up1 = catalog.ok("uploader", catalog.up1_email, tags=catalog.tag)
    assert sorted(catalog.names(up1)) == sorted([*READY_BY_TITLE, "busy"]) and up1["total"] == 7
    up2 = catalog.ok("uploader", catalog.up2_email, tags=catalog.tag)
    assert sorted(catalog.names(up2)) == sorted([*READY_BY_TITLE, "broken"]) and up2["total"] == 7
    admin = catalog.ok("admin", tags=catalog.tag)
    assert sorted(catalog.names(admin)) == sorted([*READY_BY_TITLE, "busy", "broken"]) and admin["total"] == 8
    statuses = {v["id"]: v["status"] for v in admin["videos"]}
    assert statuses[catalog.ids["busy"]] == "processing" and statuses[catalog.ids["broken"]] == "failed"
    other = catalog.ok("uploader", catalog.up2_email, tags=catalog.tag, uploader=catalog.up1)
    assert sorted(catalog.names(other)) == ["cloy1", "cloy2", "cloy3"]  # not up1's processing video
    mine = catalog.ok("uploader", catalog.up1_email, tags=catalog.tag, uploader=catalog.up1)
    assert sorted(catalog.names(mine)) == ["busy", "cloy1", "cloy2", "cloy3"]


def test_search_needs_a_user_token(catalog: Catalog) -> None:
    assert_envelope(catalog.search(None, tags=catalog.tag), 401, "AUTH_INVALID_TOKEN")


# -- text -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "expected"), [
    ("CRASH", {"crash", "cafe"}),  # case; title word and description word
    ("crâsh", {"crash", "cafe"}),  # accents
    ("cra", {"crash", "cafe"}),  # word prefix
    ("rash", set()),  # not a prefix
    ("landing you", {"crash"}),  # every word, any order
    ("café", {"cafe"}),
    ("cafe minam", {"cafe"}),
    ("사랑", {"cloy1", "cloy2", "cloy3", "crash", "goblin"}),  # Hangul substring: 사랑의 -> 사랑
    ("사랑의", {"cloy1", "cloy2", "cloy3", "crash"}),
    ("불시", {"cloy1", "cloy2", "cloy3", "crash"}),
    ("불시착", {"cloy1", "cloy2", "cloy3", "crash"}),
    ("사랑해", set()),
    ("사랑 crash", {"crash"}),  # Hangul and Latin together
    ("로맨스", {"cloy1"}),  # tags are searched too
    ("romance", {"crash"}),
    ("!!!", {"cloy1", "cloy2", "cloy3", "crash", "cafe", "goblin"}),  # no words: no text filter
])
def test_text_matching(catalog: Catalog, q: str, expected: set[str]) -> None:
    body = catalog.ok(q=q, tags=catalog.tag)
    assert set(catalog.names(body)) == expected
    assert body["total"] == len(expected)


def test_single_word_queries_alone_are_exact_and_counted(catalog: Catalog) -> None:
    body = catalog.ok(q=catalog.marker)  # the marker is in every series name
    assert body["total"] == 6 and body["totalExact"] is True
    assert set(catalog.names(body)) == set(READY_BY_TITLE)


def test_ranking_exact_then_prefix_then_description_then_sort(catalog: Catalog) -> None:
    body = catalog.ok(q="사랑의 불시착", tags=catalog.tag)
    assert catalog.names(body) == ["cloy1", "cloy2", "crash", "cloy3"]  # description tier in title order
    desc = catalog.ok(q="사랑의 불시착", tags=catalog.tag, sort="title", order="desc")
    assert catalog.names(desc) == ["cloy1", "cloy2", "cloy3", "crash"]
    by_date = catalog.ok(q="사랑의 불시착", tags=catalog.tag, sort="uploadDate", order="desc")
    assert catalog.names(by_date) == ["cloy1", "cloy2", "crash", "cloy3"]
    series_tier = catalog.ok("uploader", catalog.up1_email, q="사랑의 불시착", tags=catalog.tag)
    assert catalog.names(series_tier) == ["cloy1", "cloy2", "busy", "crash", "cloy3"]  # series hit > description


# -- filters --------------------------------------------------------------------------------------------------
def test_filters_alone_and_combined(catalog: Catalog) -> None:
    m, t = catalog.marker, catalog.tag
    cloy = f"사랑의 불시착 {m}"
    assert catalog.names(catalog.ok(series=cloy)) == ["cloy1", "cloy2"]
    assert catalog.names(catalog.ok(series=f"  사랑의   불시착 {m.upper()}!")) == ["cloy1", "cloy2"]  # normalized
    assert catalog.names(catalog.ok(series=cloy, episode=2)) == ["cloy2"]
    assert catalog.names(catalog.ok(episode=2, tags=t)) == ["goblin", "cloy2"]
    assert catalog.names(catalog.ok(language="EN", tags=t)) == ["crash"]
    assert catalog.names(catalog.ok(language="ko", tags=t, uploader=catalog.up1)) == ["cloy3", "cloy1", "cloy2"]
    assert catalog.names(catalog.ok(uploader=catalog.up2)) == ["cafe"]
    assert catalog.names(catalog.ok(tags=f"fan{m},MYS{m}")) == ["cafe", "goblin"]  # any of, case-insensitive
    assert catalog.names(catalog.ok(q="crash", language="en", tags=t)) == ["crash"]
    assert catalog.names(catalog.ok(q="사랑", series=cloy, episode=1)) == ["cloy1"]
    assert catalog.ok(series=f"no such series {m}")["total"] == 0
    everything = catalog.ok("uploader", catalog.up2_email, q="crash", series=f"Crash Landing {m}", tags=t,
                            language="en", episode=1)
    assert catalog.names(everything) == ["crash"]


def test_filters_with_the_uploaders_own_videos(catalog: Catalog) -> None:
    body = catalog.ok("uploader", catalog.up1_email, series=f"사랑의 불시착 {catalog.marker}", sort="episode")
    assert catalog.names(body) == ["cloy1", "cloy2", "busy"]
    body = catalog.ok("uploader", catalog.up2_email, episode=2, tags=catalog.tag, sort="episode", order="desc")
    assert catalog.names(body) == sorted(["goblin", "cloy2", "broken"], key=lambda n: catalog.ids[n],
                                         reverse=True)


# -- sorting --------------------------------------------------------------------------------------------------
def test_sorts_and_orders(catalog: Catalog) -> None:
    t = catalog.tag
    seeded = ["cloy1", "cloy2", "cloy3", "crash", "cafe", "goblin"]
    assert catalog.names(catalog.ok(tags=t, sort="uploadDate")) == seeded
    assert catalog.names(catalog.ok(tags=t, sort="uploadDate", order="desc")) == seeded[::-1]
    assert catalog.names(catalog.ok(tags=t, sort="title", order="desc")) == READY_BY_TITLE[::-1]
    episodes = catalog.ok(tags=t, sort="episode")
    assert [v["episode"] for v in episodes["videos"]] == [1, 1, 2, 2, 3, 5]
    ids_at_1 = [v["id"] for v in episodes["videos"][:2]]
    assert ids_at_1 == sorted(ids_at_1)  # ties broken by id
    by_series = catalog.ok(tags=t, sort="series")
    keys = [(normalize(v["series"]), v["episode"]) for v in by_series["videos"]]
    assert keys == sorted(keys)
    assert catalog.names(by_series)[:2] == ["cafe", "crash"]
    by_series_desc = catalog.ok(tags=t, sort="series", order="desc")
    assert [(normalize(v["series"]), v["episode"]) for v in by_series_desc["videos"]] == sorted(keys, reverse=True)


# -- paging ---------------------------------------------------------------------------------------------------
def _walk_tokens(catalog: Catalog, role: str, email: str | None, **params: Any) -> list[dict[str, Any]]:
    pages = [catalog.ok(role, email, **params)]
    while "nextPageToken" in pages[-1]:
        pages.append(catalog.ok(role, email, **params, pageToken=pages[-1]["nextPageToken"]))
        assert len(pages) < 50
    return pages


@pytest.mark.parametrize(("role", "params"), [
    ("user", {"limit": 2}),
    ("user", {"limit": 4, "sort": "episode", "order": "desc"}),
    ("user", {"limit": 1, "q": "사랑"}),  # ranked windows of 3 pages
    ("uploader1", {"limit": 2, "q": "불시착", "sort": "uploadDate"}),  # two merged streams
    ("admin", {"limit": 3, "sort": "series"}),
])
def test_page_numbers_and_page_tokens_agree(catalog: Catalog, role: str, params: dict[str, Any]) -> None:
    email = catalog.up1_email if role == "uploader1" else None
    role = "uploader" if role == "uploader1" else role
    params = {**params, "tags": catalog.tag}
    walked = _walk_tokens(catalog, role, email, **params)
    total = walked[0]["total"]
    limit = params["limit"]
    assert walked[0]["totalPages"] == -(-total // limit) == len(walked)
    assert [p["page"] for p in walked] == list(range(1, len(walked) + 1))
    ids = [v["id"] for p in walked for v in p["videos"]]
    assert len(ids) == len(set(ids)) == total  # every visible match once
    assert all(len(p["videos"]) == limit for p in walked[:-1])
    assert "nextPageToken" not in walked[-1]
    for number, expected in enumerate(walked, start=1):
        numbered = catalog.ok(role, email, **params, page=number)
        assert [v["id"] for v in numbered["videos"]] == [v["id"] for v in expected["videos"]], number
        assert numbered["page"] == number and numbered["total"] == total
    beyond = catalog.ok(role, email, **params, page=len(walked) + 1)
    assert beyond["videos"] == [] and "nextPageToken" not in beyond and beyond["total"] == total
    # the token may come with the page number it continues at, not another
    token = walked[0].get("nextPageToken")
    if token:
        assert catalog.ok(role, email, **params, pageToken=token, page=2)["page"] == 2
        error = assert_envelope(catalog.search(role, email, **params, pageToken=token, page=3), 400,
                                "REQUEST_INVALID")
        assert error["details"]["fields"][0]["field"] == "page"


# -- bad values -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("params", "field"), [
    ({"limit": 0}, "limit"),
    ({"limit": 10_000}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"page": -1}, "page"),
    ({"page": 0}, "page"),
    ({"page": 1001}, "page"),
    ({"page": 600}, "page"),  # (600 - 1) x 20 results skipped: beyond MAX_SKIP, use nextPageToken
    ({"sort": "rating"}, "sort"),
    ({"order": "up"}, "order"),
    ({"episode": -1}, "episode"),
    ({"episode": "two"}, "episode"),
    ({"language": "k"}, "language"),
    ({"language": "ko_KR"}, "language"),
    ({"tags": ",, ,"}, "tags"),
    ({"tags": ",".join(f"t{i}" for i in range(11))}, "tags"),
    ({"tags": "x" * 51}, "tags"),
    ({"tags": "!!!"}, "tags"),
    ({"series": ""}, "series"),
    ({"q": "사" * 201}, "q"),
    ({"uploader": "u" * 129}, "uploader"),
    ({"colour": "red"}, "colour"),
    ({"pageToken": "garbage"}, "pageToken"),
    ({"pageToken": "eyJ2IjoxfQ.AAAA"}, "pageToken"),
])
def test_bad_values_are_400_naming_the_parameter(catalog: Catalog, params: dict[str, Any], field: str) -> None:
    error = assert_envelope(catalog.search(**params), 400, "REQUEST_INVALID")
    assert field in error["message"]
    assert field in [p["field"] for p in error["details"]["fields"]]


def test_repeated_parameter_is_400(catalog: Catalog) -> None:
    response = api_as(catalog.cfg, "user").get(f"{SEARCH}?limit=2&limit=3")
    error = assert_envelope(response, 400, "REQUEST_INVALID")
    assert "limit" in error["message"]


def test_a_token_only_continues_its_own_search(catalog: Catalog) -> None:
    first = catalog.ok(tags=catalog.tag, limit=2)
    token = first["nextPageToken"]
    for other in ({"limit": 3}, {"sort": "episode"}, {"q": "사랑"}, {"tags": f"fan{catalog.marker}"}):
        error = assert_envelope(catalog.search(**{"tags": catalog.tag, "limit": 2, **other, "pageToken": token}),
                                400, "REQUEST_INVALID")
        assert "pageToken" in error["message"]
    # ...and only for the same kind of caller: an uploader's token carries their own videos
    mine = catalog.ok("uploader", catalog.up1_email, tags=catalog.tag, limit=2)["nextPageToken"]
    assert_envelope(catalog.search("uploader", catalog.up2_email, tags=catalog.tag, limit=2, pageToken=mine), 400,
                    "REQUEST_INVALID")
    edited = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert_envelope(catalog.search(tags=catalog.tag, limit=2, pageToken=edited), 400, "REQUEST_INVALID")
