"""The search engine's rules against an in-memory stand-in for Firestore (unit level: no processes).

The fake evaluates the repository's own ``VideoQuery`` (equality, ``in``, array filters, order, document-id
tie-break, prefix cursors, offset, limit) the way Firestore does; the emulator tests check the real thing. Random
catalogues then check the properties that paging must keep whatever the data: following ``nextPageToken`` and
asking for page numbers give the same pages; every visible match appears exactly once; without ``q`` the order is
exactly the requested sort; a window never reads more than its budget.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kstream.catalog import cursors, documents, search, search_plan, search_text, series
from kstream.catalog.repository import DOC_ID, Filter, ReadMeter, VideoQuery
from kstream.catalog.visibility import Viewer
from kstream.errors import RequestInvalid

from contracts.metadata import CreateVideoMetadataRequest, SearchVideosQuery

WORDS = ["crash", "landing", "love", "사랑의", "불시착", "도깨비", "café", "minamdang", "signal", "kingdom"]
SERIES = ["사랑의 불시착", "Crash Landing", "Goblin", "Signal", "Kingdom"]
UPLOADERS = ["u1", "u2", "u3"]


class FakeRepository:
    """Just enough of CatalogRepository for search: fetch and count over a list of documents."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs
        self.meter = ReadMeter()

    @staticmethod
    def _passes(flt: Filter, doc: dict[str, Any]) -> bool:
        value = doc.get(flt.field)
        if flt.op == "==":
            return bool(value == flt.value)
        if flt.op == "in":
            return value in flt.value
        if flt.op == "array_contains":
            return flt.value in (value or [])
        return any(v in (value or []) for v in flt.value)

    def _ordered(self, query: VideoQuery) -> list[dict[str, Any]]:
        found = [d for d in self.docs if all(self._passes(f, d) for f in query.filters)]
        names = [name for name, _ in query.order]
        return sorted(found, key=lambda d: (*(d[n] for n in names), d["id"]),
                      reverse=query.direction == "DESCENDING")

    def fetch(self, query: VideoQuery, *, start: Any = None, inclusive: bool = False, limit: int,
              offset: int = 0, fields: Any = None) -> list[dict[str, Any]]:
        ordered = self._ordered(query)
        if start:
            names = [*(n for n, _ in query.order), DOC_ID][: len(start)]
            desc = query.direction == "DESCENDING"

            def position(doc: dict[str, Any]) -> tuple[Any, ...]:
                return tuple(doc["id"] if n == DOC_ID else doc[n] for n in names)

            def keep(doc: dict[str, Any]) -> bool:
                here, cursor = position(doc), tuple(start)
                if inclusive:
                    return here <= cursor if desc else here >= cursor
                return here < cursor if desc else here > cursor

            ordered = [d for d in ordered if keep(d)]
        page = ordered[offset : offset + limit]
        self.meter.queries += 1
        self.meter.documents += len(page)
        self.meter.skipped += offset
        self.meter.empty_queries += 0 if page else 1
        if fields is None:
            return [dict(d) for d in page]
        return [{**{k: v for k, v in d.items() if k in fields}, "id": d["id"]} for d in page]  # Firestore's select

    def count(self, query: VideoQuery, *, up_to: int) -> int:
        self.meter.queries += 1
        self.meter.aggregation_reads += 1
        return min(len(self._ordered(query)), up_to)


def _doc(i: int, rng: random.Random, start: datetime) -> dict[str, Any]:
    words = rng.sample(WORDS, rng.randint(1, 3))
    body = {
        "videoId": f"v{i:04d}", "title": " ".join(words), "series": rng.choice(SERIES),
        "episode": rng.randint(1, 4), "description": " ".join(rng.sample(WORDS, 2)), "duration": 60,
        "fileSize": 1, "uploaderId": rng.choice(UPLOADERS), "uploaderUsername": "x",
        "availableQualities": ["720p"], "thumbnailUrl": "", "streamingUrls": {"hls": ""},
        "tags": rng.sample(["romance", "로맨스", "thriller", "fantasy"], rng.randint(0, 2)),
        "language": rng.choice(["ko", "ko", "en"]),
    }
    status = rng.choice(["ready", "ready", "ready", "processing", "failed"])
    return documents.video_document(CreateVideoMetadataRequest.model_validate(body), status=status,
                                  upload_date=start + timedelta(minutes=rng.randint(0, 50)))


def _catalog(seed: int, size: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [_doc(i, rng, start) for i in range(size)]


def _expected(docs: list[dict[str, Any]], viewer: Viewer, params: dict[str, Any]) -> set[str]:
    criteria = search_plan.Criteria.of(SearchVideosQuery(**params))
    return {d["id"] for d in docs if viewer.can_see(d)
            and all(criteria.accepts(name, d) for name in criteria.active())}


def _walk(repo: FakeRepository, viewer: Viewer, params: dict[str, Any]) -> list[dict[str, Any]]:
    pages = [search.search(repo, viewer, SearchVideosQuery(**params)).model_dump()]
    while pages[-1].get("nextPageToken"):
        pages.append(search.search(repo, viewer, SearchVideosQuery(
            **params, pageToken=pages[-1]["nextPageToken"])).model_dump())
        assert len(pages) < 500
    return pages


def _random_params(rng: random.Random, uploader_id: str) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": rng.choice([1, 2, 3, 5, 7])}
    if rng.random() < 0.5:
        params["q"] = rng.choice(["crash", "사랑", "불시착", "cafe mina", "love 사랑", "la", "도"])
    if rng.random() < 0.25:
        params["series"] = rng.choice(SERIES)
    if rng.random() < 0.25:
        params["episode"] = rng.randint(1, 4)
    if rng.random() < 0.2:
        params["language"] = rng.choice(["ko", "EN"])
    if rng.random() < 0.2:
        params["uploader"] = rng.choice([*UPLOADERS, uploader_id])
    if rng.random() < 0.25:
        params["tags"] = rng.choice(["romance", "로맨스,thriller", "FANTASY"])
    if rng.random() < 0.8:
        params["sort"] = rng.choice(["title", "uploadDate", "episode", "series"])
    params["order"] = rng.choice(["asc", "desc"])
    return params


@pytest.mark.parametrize("seed", range(40))
def test_tokens_and_page_numbers_walk_the_same_pages(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    if seed % 3 == 0:  # tiny budgets: windows cut short by reads, pages may come short or empty
        monkeypatch.setattr(search_plan, "MIN_BUDGET", 3)
        monkeypatch.setattr(search_plan, "BUDGET_PER_MATCH", 1)
    docs = _catalog(seed, rng.randint(0, 90))
    viewer = Viewer(rng.choice(UPLOADERS), rng.choice(["viewer", "uploader", "admin"]))
    params = _random_params(rng, viewer.id)
    repo = FakeRepository(docs)
    pages = _walk(repo, viewer, params)
    ids = [v["id"] for p in pages for v in p["videos"]]
    expected = _expected(docs, viewer, params)
    assert len(ids) == len(set(ids)), "a video appeared twice"
    assert set(ids) == expected
    assert [p["page"] for p in pages] == list(range(1, len(pages) + 1))
    if pages[0]["totalExact"]:
        assert pages[0]["total"] == len(expected)
        if seed % 3:
            assert pages[0]["totalPages"] == len(pages) or not expected
    for number, page in enumerate(pages, start=1):
        numbered = search.search(repo, viewer, SearchVideosQuery(**params, page=number)).model_dump()
        assert [v["id"] for v in numbered["videos"]] == [v["id"] for v in page["videos"]], number
    if "q" not in params:  # no ranking: the order is the requested sort, globally
        sort_fields = search_plan.SORT_FIELDS[params.get("sort") or "title"]
        by_id = {d["id"]: d for d in docs}
        keys = [(*(by_id[i][f] for f in sort_fields), i) for i in ids]
        assert keys == sorted(keys, reverse=params["order"] == "desc")


def test_a_window_is_ranked_and_ties_keep_the_requested_order() -> None:
    titles = ["Crash course", "crash", "A crash", "Crash Landing", "Zebra crash", "Other"]
    docs = []
    for i, title in enumerate(titles):
        body = {"videoId": f"v{i}", "title": title, "series": "S", "episode": 1,
                "description": "crash here" if title == "Other" else "", "duration": 1, "fileSize": 1,
                "uploaderId": "u", "uploaderUsername": "u", "availableQualities": [], "thumbnailUrl": "",
                "streamingUrls": {"hls": ""}, "language": "en"}
        docs.append(documents.video_document(CreateVideoMetadataRequest.model_validate(body)))
    body = search.search(FakeRepository(docs), Viewer("x", "viewer"), SearchVideosQuery(q="crash"))
    assert [v.title for v in body.videos] == ["crash", "Crash course", "Crash Landing", "A crash", "Zebra crash",
                                              "Other"]


def test_count_cap_makes_the_total_an_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "COUNT_CAP", 10)
    docs = _catalog(1, 80)
    for d in docs:
        d["status"] = "ready"
    body = search.search(FakeRepository(docs), Viewer("x", "viewer"), SearchVideosQuery(limit=5))
    assert body.total == 10 and body.totalExact is False and body.totalPages == 2 and body.nextPageToken


def test_deep_page_numbers_are_refused_and_tokens_are_not() -> None:
    repo = FakeRepository(_catalog(2, 5))
    with pytest.raises(RequestInvalid) as caught:
        search.search(repo, Viewer("x", "viewer"), SearchVideosQuery(page=101, limit=100))
    assert caught.value.details["fields"][0]["field"] == "page"
    assert search.search(repo, Viewer("x", "viewer"), SearchVideosQuery(page=100, limit=100)).videos == []


@pytest.mark.parametrize("token", ["", "x", "a.b.c", "!!!.???", "eyJ2IjoxfQ", "eyJ2IjoxfQ.AAAAAAAAAAAA"])
def test_malformed_tokens_name_the_parameter(token: str) -> None:
    repo = FakeRepository([])
    with pytest.raises(RequestInvalid) as caught:
        search.search(repo, Viewer("x", "viewer"), SearchVideosQuery.model_construct(
            pageToken=token, q=None, series=None, episode=None, language=None, uploader=None, tags=None, page=1,
            limit=20, sort=None, order="asc"))
    assert caught.value.details["fields"][0]["field"] == "pageToken"


def test_forged_token_contents_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = search_plan.plan_search(Viewer("x", "viewer"), SearchVideosQuery(limit=2, sort="episode"))
    good = cursors.PageToken(after=(3, "v0001"), sub=0, page=2, total=9, exact=True, before=2)
    assert cursors.decode_token(plan, cursors.encode_token(plan, good)) == good
    for bad in (cursors.PageToken(after=("three", "v0001"), sub=0, page=2, total=9, exact=True, before=0),
                cursors.PageToken(after=(3, "v/1"), sub=0, page=2, total=9, exact=True, before=0),
                cursors.PageToken(after=(3,), sub=0, page=2, total=9, exact=True, before=0),
                cursors.PageToken(after=None, sub=5, page=2, total=9, exact=True, before=0),
                cursors.PageToken(after=None, sub=0, page=1, total=9, exact=True, before=0)):
        with pytest.raises(RequestInvalid):
            cursors.decode_token(plan, cursors.encode_token(plan, bad))
    other = search_plan.plan_search(Viewer("x", "viewer"), SearchVideosQuery(limit=3, sort="episode"))
    with pytest.raises(RequestInvalid) as caught:
        cursors.decode_token(other, cursors.encode_token(plan, good))
    assert "other parameters" in caught.value.message


# -- planning -------------------------------------------------------------------------------------------------
def _plan(scope: str, **params: Any) -> search_plan.SearchPlan:
    return search_plan.plan_search(Viewer("me", scope), SearchVideosQuery(**params))  # type: ignore[arg-type]


def test_the_primary_criterion_goes_to_firestore_and_the_rest_stays_in_memory() -> None:
    plan = _plan("viewer", q="crash", series="S", language="ko", tags="a")
    (stream,) = plan.streams
    assert [(f.field, f.op) for f in stream.query.filters] == [("status", "=="), ("searchTokens", "array_contains")]
    assert stream.residual == ("series", "tags", "language")
    plan = _plan("viewer", series="S", episode=2, uploader="u")
    assert [f.field for f in plan.streams[0].query.filters] == ["status", "seriesKey"]
    assert plan.streams[0].residual == ("uploader", "episode")
    assert _plan("viewer", q="crash landing").streams[0].residual == ("text",)  # two words: checked in memory
    assert _plan("viewer", q="crash").streams[0].exact
    assert _plan("viewer", q="사랑").streams[0].exact and not _plan("viewer", q="사랑의").streams[0].exact


def test_visibility_shapes_the_queries() -> None:
    (viewer,) = _plan("viewer").streams
    assert viewer.query.filters == (Filter("status", "==", "ready"),)
    (admin,) = _plan("admin").streams
    assert admin.query.filters == (Filter("status", "in", ["processing", "ready", "failed"]),)
    _, own = _plan("uploader").streams
    assert own.query.filters == (Filter("uploaderId", "==", "me"), Filter("status", "in", ["processing", "failed"]))
    assert len(_plan("uploader", uploader="someone").streams) == 1  # their in-progress videos are not mine
    assert _plan("uploader", uploader="me").streams[1].exact


def test_sort_fields_pinned_by_a_filter_leave_the_firestore_order() -> None:
    (stream,) = _plan("viewer", episode=3, sort="series", order="desc").streams
    assert stream.query.order == (("seriesSort", "DESCENDING"),) and stream.fixed == {"episode": 3}
    (stream,) = _plan("viewer", episode=3, sort="episode").streams
    assert stream.query.order == () and stream.query.direction == "ASCENDING"
    with pytest.raises(ValueError, match="equality"):
        VideoQuery((Filter("episode", "==", 1),), (("episode", "ASCENDING"),), "ASCENDING")
    with pytest.raises(ValueError, match="one array"):
        VideoQuery((Filter("a", "array_contains", 1), Filter("b", "array_contains_any", [1])),
                   (("x", "ASCENDING"),), "ASCENDING")


def test_budget_and_window_follow_the_limit() -> None:
    assert (_plan("viewer", limit=20).window, _plan("viewer", limit=20).budget) == (20, 200)
    assert (_plan("viewer", q="x", limit=20).window, _plan("viewer", q="x", limit=20).budget) == (60, 300)
    assert _plan("viewer", q="x", limit=100).budget == 1500


def test_viewer_of_principal() -> None:
    from kstream.auth import ROLE_PERMISSIONS, Principal

    assert Viewer.of(Principal("a", "a", "admin", ROLE_PERMISSIONS["admin"])).scope == "admin"
    assert Viewer.of(Principal("u", "u", "uploader", ROLE_PERMISSIONS["uploader"])).scope == "uploader"
    assert Viewer.of(Principal("v", "v", "user", ROLE_PERMISSIONS["user"])).scope == "viewer"
    assert Viewer.of(Principal("s@x", "s@x", "service", (), kind="service")).scope == "admin"


# -- series aggregates ----------------------------------------------------------------------------------------
def _entry(video_id: str, episode: int, status: str, language: str = "ko", tags: tuple[str, ...] = ()
           ) -> dict[str, Any]:
    return {"videoId": video_id, "episode": episode, "status": status, "uploaderId": "u", "language": language,
            "tags": list(tags)}


def test_series_aggregates_prefer_ready_episodes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    entries = [_entry("c", 3, "ready", "en", ("Thriller",)), _entry("a", 1, "processing", "ja", ("x",)),
               _entry("b", 2, "ready", "ko", ("thriller", "로맨스")), _entry("d", 2, "failed"),
               _entry("e", 5, "ready", "ko")]
    lead = {"series": "Name", "description": "lead", "thumbnailUrl": "/t"}
    doc = series.series_document("key", entries, lead, None, now)
    assert doc["leadId"] == "b"  # lowest ready episode
    assert doc["availableEpisodes"] == [2, 3, 5] and doc["totalEpisodes"] == 4  # 1, 2, 3, 5 (failed 2 shares)
    assert doc["language"] == "ko" and doc["tags"] == ["thriller", "로맨스"]
    assert [e["videoId"] for e in doc["episodes"]] == ["a", "b", "d", "c", "e"]
    none_ready = [_entry("a", 1, "failed", "en"), _entry("b", 2, "processing", "ja", ("z",))]
    doc = series.series_document("key", none_ready, lead, None, now)
    assert doc["leadId"] == "b" and doc["language"] == "ja" and doc["tags"] == ["z"]
    assert doc["availableEpisodes"] == [] and doc["totalEpisodes"] == 1


def test_video_documents_carry_their_search_keys() -> None:
    body = {"videoId": "v1", "title": "사랑의 불시착", "series": "Crash Landing on You", "episode": 1,
            "description": "Captain Ri", "duration": 1, "fileSize": 1, "uploaderId": "u", "uploaderUsername": "u",
            "availableQualities": ["720p", "720p"], "thumbnailUrl": "/t", "streamingUrls": {"hls": "/h"},
            "tags": ["Romance", "romance", "로맨스"], "language": "KO"}
    doc = documents.video_document(CreateVideoMetadataRequest.model_validate(body))
    assert doc["tags"] == ["Romance", "로맨스"] and doc["tagKeys"] == ["romance", "로맨스"]
    assert doc["languageKey"] == "ko" and doc["availableQualities"] == ["720p"]
    assert doc["seriesKey"] == search_text.series_key("crash landing on you")
    assert {"사랑", "불시", "crash", "captain"} <= set(doc["searchTokens"])
    assert doc["titleSort"] == "사랑의 불시착" and doc["status"] == "ready"
    assert math.isclose(doc["duration"], 1.0)
