"""Search (spec 3.5): answer one search request — plan it, count it, read one window, rank it, cut a page.

The path: :func:`~kstream.catalog.search_plan.plan_search` (which queries) -> a census (``count()``) on the first
request, or the page token (:mod:`kstream.catalog.cursors`) on later ones -> one window read by
:func:`~kstream.catalog.pages.scan` -> ranked by text relevance and cut into a page.

``total`` comes from ``count()`` (capped at ``COUNT_CAP``) when Firestore evaluates every criterion, from reading
the whole candidate set when that is at most ``budget`` documents, and is an estimate otherwise
(``totalExact: false``). Page 1 of a search whose criteria Firestore evaluates reads its window first: when the
window holds every match (a series' episodes, most searches), ``total`` is their number, exact, and no ``count()``
is sent; otherwise it counts, and a process that has seen the search's matches outgrow a window lately
(``LARGE_HINT_SECONDS``) counts alongside the window read instead of after it. Either way ``total`` is what
Firestore holds at the time of page 1 (decision 0011).

``nextPageToken`` resumes at the window's position; ``page`` walks from the start (an offset when that is exact),
so deep page numbers cost reads and are capped at ``MAX_SKIP`` results.
docs/decisions/0004-search-on-firestore.md explains the trade-offs.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from contracts.metadata import SearchVideosQuery, SearchVideosResponse

from .cursors import PageToken, decode_token, encode_token
from .documents import READ_FIELDS, playback_links, to_metadata
from .pages import EMPTY_WINDOW, StreamStats, Window, scan
from .repository import CatalogRepository, hashable
from .search_plan import SearchPlan, invalid_query, plan_search
from .visibility import Viewer

__all__ = ["COUNT_CAP", "MAX_SKIP", "search"]

COUNT_CAP = 10_000
"""``count()`` stops here (at most 10 reads); a total that reaches it is reported as 10 000, ``totalExact: false``."""
MAX_SKIP = 10_000
"""A ``page`` number may skip at most this many results; deeper pages are reached with ``nextPageToken``."""


@dataclass
class _Census:
    """What ``count()`` (and, for small non-exact streams, reading them whole) says about each stream."""

    counted: list[int]  # count() per stream, at most COUNT_CAP (reaching it means "at least")
    matches: list[int | None]  # exact matches per stream; None: estimate from the documents read
    preloaded: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def total(self, stats: Sequence[StreamStats]) -> tuple[int, bool]:
        total, exact = 0, True
        for i, counted in enumerate(self.counted):
            known = self.matches[i]
            if known is not None:
                if counted >= COUNT_CAP:
                    exact, known = False, COUNT_CAP
                total += known
                continue
            exact = False
            seen = stats[i]
            base = min(counted, COUNT_CAP)
            estimate = round(base * seen.matched / seen.scanned) if seen.scanned else base
            total += max(estimate, seen.matched)
        return total, exact


def _census(repo: CatalogRepository, plan: SearchPlan, counted: Sequence[int] | None = None) -> _Census:
    """Count each stream (or take ``counted``, already counted), and read a small non-exact stream whole."""
    census = _Census(counted=[], matches=[])
    for i, stream in enumerate(plan.streams):
        n = counted[i] if counted is not None else repo.count(stream.query, up_to=COUNT_CAP)
        census.counted.append(n)
        if stream.exact:
            census.matches.append(n)
        elif n <= plan.budget:
            docs = repo.fetch(stream.query, limit=n + 1, fields=READ_FIELDS) if n else []
            census.preloaded[i] = docs
            census.matches.append(sum(1 for d in docs if plan.accepts(stream, d)))
        else:
            census.matches.append(None)
    return census


LARGE_HINT_SECONDS = 600.0
"""How long a process remembers that a search's matches outgrew one window, to count them alongside the window
read next time (a hint on when to count, never an answer: ``total`` is always counted or read)."""
_LARGE_HINTS_MAX = 4096
_large_hints: OrderedDict[tuple[Any, ...], float] = OrderedDict()
_hints_lock = threading.Lock()


def _filters_of(plan: SearchPlan) -> tuple[Any, ...]:
    """What a search's count depends on: its streams' filters (not their order, sort or page size)."""
    return tuple(hashable(stream.query.filters) for stream in plan.streams)


def _hinted_large(key: tuple[Any, ...]) -> bool:
    with _hints_lock:
        seen = _large_hints.get(key)
        if seen is None:
            return False
        if time.monotonic() - seen > LARGE_HINT_SECONDS:
            del _large_hints[key]
            return False
        _large_hints.move_to_end(key)
        return True


def _remember(key: tuple[Any, ...], large: bool) -> None:
    with _hints_lock:
        if not large:
            _large_hints.pop(key, None)
            return
        _large_hints[key] = time.monotonic()
        _large_hints.move_to_end(key)
        while len(_large_hints) > _LARGE_HINTS_MAX:
            _large_hints.popitem(last=False)


_counters: ThreadPoolExecutor | None = None
_counters_lock = threading.Lock()


def _count_alongside(repo: CatalogRepository, plan: SearchPlan) -> list[Future[int]]:
    """Start every stream's ``count()`` on the process's counting threads, so that it runs while the first window
    is read: two independent round trips overlap (page 1 of an all-exact plan; the reads are the same)."""
    global _counters
    with _counters_lock:
        if _counters is None:
            _counters = ThreadPoolExecutor(max_workers=16, thread_name_prefix="catalog-count")
    return [_counters.submit(repo.count, stream.query, up_to=COUNT_CAP) for stream in plan.streams]


def _walk(repo: CatalogRepository, plan: SearchPlan, page: int, stats: list[StreamStats],
          preloaded: Mapping[int, list[dict[str, Any]]]) -> tuple[Window, int, int]:
    """Window, page-within-window and matches before the window of ``page``, found by reading the windows before
    it (what following nextPageToken from page 1 would do)."""
    after: tuple[Any, ...] | None = None
    pages_before = 0
    before = 0
    read = 0
    while True:
        window = scan(repo, plan, after, stats, preloaded=preloaded)
        pages = max(1, math.ceil(len(window.matches) / plan.limit))
        if page <= pages_before + pages:
            return window, page - 1 - pages_before, before
        if window.exhausted:
            return EMPTY_WINDOW, 0, before
        pages_before += pages
        before += len(window.matches)
        after = window.last
        read += window.scanned
        if read > MAX_SKIP:
            raise invalid_query("page", f"page {page} lies more than {MAX_SKIP} documents deep for this search; "
                                "follow nextPageToken instead")


def _respond(plan: SearchPlan, window: Window, sub: int, page: int, total: int, exact: bool, before: int
             ) -> SearchVideosResponse:
    limit = plan.limit
    links = playback_links()  # once per answer, not once per video
    ranked = plan.rank(window.matches)
    shown = ranked[sub * limit : (sub + 1) * limit]
    pages = max(1, math.ceil(len(ranked) / limit))
    delivered = before + min((sub + 1) * limit, len(ranked))
    token: PageToken | None = None
    if exact and delivered >= total:
        token = None  # every match counted has been shown: no trailing empty page
    elif sub + 1 < pages:
        token = PageToken(window.start, sub + 1, page + 1, total, exact, before)
    elif not window.exhausted:
        token = PageToken(window.last, 0, page + 1, total, exact, before + len(ranked))
    return SearchVideosResponse(
        videos=[to_metadata(d, plan.viewer, links=links) for d in shown],
        total=total,
        page=page,
        limit=limit,
        totalPages=math.ceil(total / limit),
        nextPageToken=encode_token(plan, token) if token else None,
        totalExact=exact,
    )


def _first_page(repo: CatalogRepository, plan: SearchPlan, stats: list[StreamStats]) -> SearchVideosResponse:
    """Page 1 when Firestore evaluates every criterion: a window holding every match is its own exact total (no
    ``count()``); a larger result is counted, alongside the window read when this process saw it large lately."""
    key = _filters_of(plan)
    counting = _count_alongside(repo, plan) if _hinted_large(key) else None
    window = scan(repo, plan, None, stats)
    if window.exhausted and counting is None:
        counted = [seen.matched for seen in stats]  # every document of every stream was read, and each matches
    else:
        counted = [future.result() for future in counting] if counting is not None else \
            [repo.count(stream.query, up_to=COUNT_CAP) for stream in plan.streams]
    _remember(key, not window.exhausted)
    census = _census(repo, plan, counted)
    return _respond(plan, window, 0, 1, *census.total(stats), 0)


def search(repo: CatalogRepository, viewer: Viewer, query: SearchVideosQuery) -> SearchVideosResponse:
    """Answer a search (spec 3.5) for ``viewer``; reads O(limit) documents per page (see the module docstring)."""
    plan = plan_search(viewer, query)
    stats = [StreamStats() for _ in plan.streams]
    if query.pageToken is not None:
        token = decode_token(plan, query.pageToken)
        if "page" in query.model_fields_set and query.page != token.page:
            raise invalid_query("page", f"page {query.page} disagrees with pageToken, which continues at page "
                                f"{token.page}; send one or the other")
        window = scan(repo, plan, token.after, stats)
        return _respond(plan, window, token.sub, token.page, token.total, token.exact, token.before)
    page = query.page
    if (page - 1) * plan.limit >= MAX_SKIP:
        raise invalid_query("page", f"page {page} with limit {plan.limit} skips {(page - 1) * plan.limit} results; "
                            f"at most {MAX_SKIP - 1} can be skipped by page number: follow nextPageToken to go "
                            "further")
    sub = before = 0
    if page == 1 and all(stream.exact for stream in plan.streams):  # nothing to preload
        return _first_page(repo, plan, stats)
    census = _census(repo, plan)
    if page == 1:
        window = scan(repo, plan, None, stats, preloaded=census.preloaded)
    elif len(plan.streams) == 1 and plan.streams[0].exact:
        number, sub = divmod(page - 1, plan.pages_per_window)
        before = number * plan.window
        window = EMPTY_WINDOW if before >= census.counted[0] else scan(repo, plan, None, stats, offset=before)
    else:
        window, sub, before = _walk(repo, plan, page, stats, census.preloaded)
    total, exact = census.total(stats)
    return _respond(plan, window, sub, page, total, exact, before)
