"""The page reader: one *window* of a search's matches, read from its Firestore streams in the requested order.

A window holds ``K x limit`` matches (K = 3 with ``q``, else 1) and stops after reading ``budget`` documents, so a
page never reads more than O(limit) documents whatever the catalogue's size. Documents are fetched lazily, in
batches, from a position (a cursor) or an offset; every fetched document is billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .documents import READ_FIELDS
from .repository import CatalogRepository
from .search_plan import SearchPlan, Stream

__all__ = ["EMPTY_WINDOW", "StreamStats", "Window", "scan"]


@dataclass
class StreamStats:
    scanned: int = 0
    matched: int = 0


class _Reader:
    """One stream's documents after a position, in order, fetched lazily (every fetched document is billed)."""

    def __init__(self, repo: CatalogRepository, plan: SearchPlan, stream: Stream, after: tuple[Any, ...] | None,
                 *, offset: int = 0, lead_in: bool = False, preloaded: list[dict[str, Any]] | None = None) -> None:
        self.repo, self.plan, self.stream = repo, plan, stream
        self.offset = offset
        self.lead_in = lead_in  # the first document fetched only marks the position (offset paging)
        self.buffer: list[dict[str, Any]] = []
        self.fetched = 0
        self.exhausted = False
        self.cursor: tuple[list[Any], bool] | None = None  # (values, inclusive) where the next fetch starts
        if preloaded is not None:
            self.buffer = [d for d in preloaded if after is None or self._beyond(plan.key(d), after)]
            self.exhausted = True
        elif after is not None:
            position = self._stream_cursor(after)
            if position is None:
                self.exhausted = True
            elif position[0]:
                self.cursor = position

    def _beyond(self, key: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
        return key < after if self.plan.descending else key > after

    def _stream_cursor(self, after: tuple[Any, ...]) -> tuple[list[Any], bool] | None:
        """The Firestore cursor equivalent to "after ``after``" for this stream, whose order leaves out the sort
        fields its filters pin: (values, inclusive); ([], True) is the start; None when nothing follows."""
        prefix: list[Any] = []
        for name, value in zip(self.plan.sort_fields, after[:-1], strict=True):
            if name not in self.stream.fixed:
                prefix.append(value)
                continue
            pinned = self.stream.fixed[name]
            if pinned == value:
                continue
            if self._beyond((pinned,), (value,)):
                return prefix, True  # every document with this prefix comes after
            return (prefix, False) if prefix else None  # none with this prefix does
        return [*prefix, after[-1]], False

    def _fetch(self) -> None:
        window = self.plan.window
        remaining = max(1, self.plan.budget + 1 - self.fetched)
        size = window + 1 + int(self.lead_in) if self.fetched == 0 else max(2 * window, 100)
        size = max(1, min(size, remaining + int(self.lead_in)))
        values, inclusive = self.cursor if self.cursor is not None else ([], False)
        docs = self.repo.fetch(self.stream.query, start=values, inclusive=inclusive, limit=size, offset=self.offset,
                               fields=READ_FIELDS)
        self.offset = 0
        self.fetched += len(docs)
        if len(docs) < size:
            self.exhausted = True
        if docs:
            last = docs[-1]
            self.cursor = ([last[name] for name, _ in self.stream.query.order] + [last["id"]], False)
        self.buffer.extend(docs)

    def head(self) -> dict[str, Any] | None:
        if not self.buffer and not self.exhausted:
            self._fetch()
        return self.buffer[0] if self.buffer else None

    def pop(self) -> dict[str, Any]:
        return self.buffer.pop(0)


@dataclass
class Window:
    matches: list[dict[str, Any]]
    start: tuple[Any, ...] | None
    last: tuple[Any, ...] | None
    scanned: int
    exhausted: bool


def scan(repo: CatalogRepository, plan: SearchPlan, after: tuple[Any, ...] | None, stats: list[StreamStats],
          *, offset: int = 0, preloaded: Mapping[int, list[dict[str, Any]]] | None = None) -> Window:
    """One window: matches in the requested order after ``after`` until ``window`` matches or ``budget`` documents
    read. ``offset`` (single exact stream only) skips that many documents from the start instead."""
    preloaded = preloaded or {}
    readers = [_Reader(repo, plan, s, after, offset=max(offset - 1, 0), lead_in=offset > 0,
                       preloaded=preloaded.get(i)) for i, s in enumerate(plan.streams)]
    start = after
    if offset:
        previous = readers[0].head()
        if previous is None:
            return EMPTY_WINDOW
        start = plan.key(readers[0].pop())
    matches: list[dict[str, Any]] = []
    scanned = 0
    last: tuple[Any, ...] | None = None
    exhausted = False
    while True:
        live = [(i, d) for i, d in ((i, r.head()) for i, r in enumerate(readers)) if d is not None]
        if not live:
            exhausted = True
            break
        pick = (max if plan.descending else min)(live, key=lambda item: plan.key(item[1]))[0]
        doc = readers[pick].pop()
        scanned += 1
        stats[pick].scanned += 1
        last = plan.key(doc)
        if plan.accepts(plan.streams[pick], doc):
            matches.append(doc)
            stats[pick].matched += 1
            if len(matches) >= plan.window:
                break
        if scanned >= plan.budget:
            break
    if not exhausted:
        exhausted = all(r.head() is None for r in readers)
    return Window(matches, start, last, scanned, exhausted)


EMPTY_WINDOW = Window(matches=[], start=None, last=None, scanned=0, exhausted=True)
