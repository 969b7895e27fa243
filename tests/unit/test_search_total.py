"""How page 1 of a search gets its ``total`` (decision 0011): a window that holds every match is its own exact
count (no ``count()`` sent); a larger result is counted, alongside the window read once the process has seen it
large; the total is never remembered, so it follows the catalogue from one search to the next."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from kstream.catalog import search
from kstream.catalog.repository import VideoQuery
from kstream.catalog.visibility import Viewer

from contracts.metadata import SearchVideosQuery
from tests.unit.test_catalog_paging import FakeRepository, _catalog

VIEWER = Viewer("x", "viewer")


class CountingRepository(FakeRepository):
    """Records the thread of every count(): the search's own, or a counting thread (alongside the window)."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        super().__init__(docs)
        self.count_threads: list[str] = []

    def count(self, query: VideoQuery, *, up_to: int) -> int:
        self.count_threads.append(threading.current_thread().name)
        return super().count(query, up_to=up_to)


@pytest.fixture(autouse=True)
def no_hints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "_large_hints", type(search._large_hints)())


def _ready(size: int) -> list[dict[str, Any]]:
    docs = _catalog(7, size)
    for doc in docs:
        doc["status"] = "ready"
    return docs


def test_a_window_holding_every_match_is_its_own_exact_total() -> None:
    repo = CountingRepository(_ready(12))
    body = search.search(repo, VIEWER, SearchVideosQuery(limit=20))
    assert body.total == 12 and body.totalExact is True and len(body.videos) == 12 and body.nextPageToken is None
    assert repo.count_threads == [] and repo.meter.aggregation_reads == 0 and repo.meter.queries == 1


def test_a_larger_result_is_counted_then_counted_alongside_the_window() -> None:
    repo = CountingRepository(_ready(30))
    first = search.search(repo, VIEWER, SearchVideosQuery(limit=5))
    assert first.total == 30 and first.totalExact is True and first.nextPageToken
    assert repo.count_threads == [threading.current_thread().name]  # after the window: it was not known large
    again = search.search(repo, VIEWER, SearchVideosQuery(limit=5, sort="uploadDate", order="desc"))
    assert again.total == 30 and len(repo.count_threads) == 2  # same filters, other order: the hint holds
    assert repo.count_threads[1].startswith("catalog-count")
    assert repo.meter.aggregation_reads == 2  # one count() per page 1, as before


def test_the_hint_expires_and_totals_follow_the_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = _ready(30)
    repo = CountingRepository(docs)
    search.search(repo, VIEWER, SearchVideosQuery(limit=5))
    monkeypatch.setattr(search, "LARGE_HINT_SECONDS", 0.0)
    del docs[3:]  # now a window holds every match
    shrunk = search.search(repo, VIEWER, SearchVideosQuery(limit=5))
    assert shrunk.total == 3 and shrunk.totalExact is True and len(repo.count_threads) == 1  # not counted again
    docs.extend(_ready(30)[3:])
    grown = search.search(repo, VIEWER, SearchVideosQuery(limit=5))
    assert grown.total == 30 and len(repo.count_threads) == 2
