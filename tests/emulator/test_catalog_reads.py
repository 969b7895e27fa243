"""What a search page costs in Firestore reads, counted by the repository against the emulator: it follows the page
size, not the catalogue's size (the same searches are measured at 250 and at 750 matching videos)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from kstream.catalog import documents, search, search_plan
from kstream.catalog.repository import CatalogRepository, ReadMeter
from kstream.catalog.visibility import Viewer

from contracts.metadata import CreateVideoMetadataRequest, SearchVideosQuery
from local_emulator.stack import StackConfig
from tests.emulator.test_catalog_api import repo_of, video_body

VIEWER = Viewer("reader", "viewer")


def _load(cfg: StackConfig, marker: str, start: int, stop: int) -> None:
    docs = []
    for i in range(start, stop):
        body = video_body(f"r{marker}{i:05d}", title=f"{marker} {i:05d} {'even' if i % 2 == 0 else 'odd'}",
                          series=f"Reads {marker}", episode=i, tags=[f"tag{marker}"])
        docs.append(documents.video_document(CreateVideoMetadataRequest.model_validate(body)))
    repo_of(cfg).put_videos(docs)


def _cost(cfg: StackConfig, **params: Any) -> tuple[ReadMeter, dict[str, Any]]:
    repo = CatalogRepository(repo_of(cfg).db, ReadMeter())
    body = search.search(repo, VIEWER, SearchVideosQuery(**params)).model_dump()
    return repo.meter, body


SEARCHES: dict[str, dict[str, Any]] = {
    "one word": {"q": "{m}", "limit": 10},  # exact: count + one query of 3 pages + 1
    "two words": {"q": "{m} even", "limit": 10},  # half the candidates match in memory
    "filter": {"tags": "tag{m}", "limit": 10},
    "filter, sorted desc": {"tags": "tag{m}", "limit": 10, "sort": "uploadDate", "order": "desc"},
}


@dataclass
class Measured:
    marker: str
    by_search: dict[str, dict[int, tuple[ReadMeter, dict[str, Any]]]] = field(default_factory=dict)

    def __getitem__(self, name: str) -> dict[int, tuple[ReadMeter, dict[str, Any]]]:
        return self.by_search[name]


@pytest.fixture(scope="module")
def measured(local_cloud: StackConfig) -> Measured:
    result = Measured("rd" + uuid.uuid4().hex[:8])
    result.by_search = {name: {} for name in SEARCHES}
    for size, (start, stop) in ((250, (0, 250)), (750, (250, 750))):
        _load(local_cloud, result.marker, start, stop)
        for name, params in SEARCHES.items():
            result.by_search[name][size] = _cost(local_cloud, **{
                k: v.format(m=result.marker) if isinstance(v, str) else v for k, v in params.items()})
    return result


@pytest.mark.parametrize("name", list(SEARCHES))
def test_page_reads_do_not_grow_with_the_catalogue(measured: Measured, name: str) -> None:
    small, large = measured[name][250][0], measured[name][750][0]
    assert small.as_dict() == large.as_dict(), (small, large)
    limit = SEARCHES[name]["limit"]
    assert small.documents <= 3 * limit + 1 + 2 * 3 * limit + 100  # window + one more batch at most
    assert small.aggregation_reads == 1  # count() of up to 1 000 entries
    assert measured[name][250][1]["videos"] and len(measured[name][250][1]["videos"]) == limit


def test_exact_search_reads_one_window(measured: Measured) -> None:
    meter, body = measured["one word"][750]
    assert meter.documents == 3 * 10 + 1 and meter.queries == 2 and meter.billed == 32
    assert body["total"] == 750 and body["totalExact"] is True and body["totalPages"] == 75
    filtered, body = measured["filter"][750]
    assert filtered.documents == 10 + 1 and filtered.billed == 12 and body["total"] == 750


def test_in_memory_filters_give_an_estimate_within_the_budget(measured: Measured) -> None:
    meter, body = measured["two words"][750]
    assert body["totalExact"] is False
    assert 300 <= body["total"] <= 450  # half of 750, estimated from the documents read
    plan = search_plan.plan_search(VIEWER, SearchVideosQuery(q="x even", limit=10))
    assert meter.documents <= plan.budget + 1


def test_next_pages_cost_a_window_and_no_count(local_cloud: StackConfig, measured: Measured) -> None:
    marker = measured.marker
    first = measured["one word"][750][1]
    meter, second = _cost(local_cloud, q=marker, limit=10, pageToken=first["nextPageToken"])
    assert second["page"] == 2 and meter.aggregation_reads == 0 and meter.documents == 3 * 10 + 1
    tokens = second["nextPageToken"]
    for _ in range(3):  # into the second window
        meter, page = _cost(local_cloud, q=marker, limit=10, pageToken=tokens)
        assert meter.billed <= 3 * 10 + 1
        tokens = page["nextPageToken"]
    assert page["page"] == 5


def test_page_numbers_pay_for_the_documents_they_skip(local_cloud: StackConfig, measured: Measured) -> None:
    marker = measured.marker
    meter, body = _cost(local_cloud, tags=f"tag{marker}", limit=10, page=5)
    assert meter.skipped == 39 and meter.documents == 10 + 2  # the offset, and the page with its neighbours
    assert [v["episode"] for v in body["videos"]] == sorted(v["episode"] for v in body["videos"])
    walked, _ = _cost(local_cloud, q=f"{marker} even", limit=10, page=4)  # the second window of 3 pages
    assert walked.skipped == 0 and walked.documents > 2 * 3 * 10  # in-memory filters: window 1 is read first


def test_a_page_one_that_holds_every_match_sends_no_count(local_cloud: StackConfig) -> None:
    marker = "rs" + uuid.uuid4().hex[:8]
    docs = [documents.video_document(CreateVideoMetadataRequest.model_validate(
        video_body(f"{marker}{i}", series=f"Small {marker}", episode=i + 1))) for i in range(5)]
    repo_of(local_cloud).put_videos(docs)
    meter, body = _cost(local_cloud, series=f"Small {marker}", limit=20)
    assert body["total"] == 5 and body["totalExact"] is True and len(body["videos"]) == 5
    assert meter.aggregation_reads == 0 and meter.queries == 1 and meter.billed == 5
    repo_of(local_cloud).put_videos([documents.video_document(CreateVideoMetadataRequest.model_validate(
        video_body(f"{marker}x", series=f"Small {marker}", episode=6)))])
    _, grown = _cost(local_cloud, series=f"Small {marker}", limit=20)
    assert grown["total"] == 6  # nothing remembered: the next page 1 sees the new episode
