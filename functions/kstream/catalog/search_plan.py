"""Search planning: which Firestore queries (one, or two for uploaders) and which in-memory checks answer a search.

Firestore evaluates the visibility filter, ONE primary criterion (the first present of: text token, series,
uploader, episode, tags, language, subtitles) and the order; the remaining criteria and the full text match run in
memory on the documents read. :func:`plan_search` is pure: the index-coverage test enumerates every plan through it.
docs/decisions/0004-search-on-firestore.md explains the trade-offs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.metadata import SearchVideosQuery

from ..errors import RequestInvalid
from . import search_text
from .documents import unique_tags
from .repository import (
    F_EPISODE,
    F_LANGUAGE_KEY,
    F_SERIES_KEY,
    F_SERIES_SORT,
    F_STATUS,
    F_SUBTITLE_KEYS,
    F_TAG_KEYS,
    F_TITLE_SORT,
    F_TOKENS,
    F_UPLOAD_DATE,
    F_UPLOADER,
    Direction,
    Filter,
    VideoQuery,
)
from .visibility import IN_PROGRESS, READY, STATUSES, Viewer

__all__ = ["SORT_FIELDS", "Criteria", "SearchPlan", "Stream", "invalid_query", "plan_search"]

RANK_WINDOW_PAGES = 3
"""With ``q``, relevance ranking looks at this many pages of matches at a time."""
MIN_BUDGET, MAX_BUDGET, BUDGET_PER_MATCH = 200, 1500, 5
"""A window reads at most clamp(5 x window, 200, 1500) documents."""

SORT_FIELDS: dict[str, tuple[str, ...]] = {
    "title": (F_TITLE_SORT,),
    "uploadDate": (F_UPLOAD_DATE,),
    "episode": (F_EPISODE,),
    "series": (F_SERIES_SORT, F_EPISODE),
}
PRIMARY_ORDER = ("text", "series", "uploader", "episode", "tags", "language", "subtitles")


@dataclass(frozen=True)
class Criteria:
    """A search's filters, normalized as the documents store them."""

    text: search_text.QueryPlan
    series_key: str | None
    episode: int | None
    language_key: str | None
    uploader: str | None
    tag_keys: tuple[str, ...]
    subtitle_key: str | None = None

    @classmethod
    def of(cls, query: SearchVideosQuery) -> Criteria:
        try:
            text = search_text.query_tokens(query.q)
        except ValueError as exc:
            raise invalid_query("q", str(exc)) from None
        tag_keys: tuple[str, ...] = ()
        if query.tags is not None:
            tag_keys = tuple(unique_tags(query.tags.split(","))[1])
            if not tag_keys:
                raise invalid_query("tags", "no searchable tag: tags need letters or digits")
        return cls(
            text=text,
            series_key=search_text.series_key(query.series) if query.series else None,
            episode=query.episode,
            language_key=query.language.casefold() if query.language else None,
            uploader=query.uploader,
            tag_keys=tag_keys,
            subtitle_key=query.subtitles.casefold() if query.subtitles else None,
        )

    def active(self) -> tuple[str, ...]:
        present = {
            "text": not self.text.is_empty,
            "series": self.series_key is not None,
            "uploader": self.uploader is not None,
            "episode": self.episode is not None,
            "tags": bool(self.tag_keys),
            "language": self.language_key is not None,
            "subtitles": self.subtitle_key is not None,
        }
        return tuple(name for name in PRIMARY_ORDER if present[name])

    @property
    def text_exact(self) -> bool:
        """Whether the single Firestore token decides a text match on its own (no in-memory check needed)."""
        terms = self.text.terms
        if len(terms) != 1:
            return False
        term = terms[0]
        return len(term.text) <= 2 if term.ngram else len(term.text) <= search_text.MAX_PREFIX_LEN

    def firestore_filter(self, name: str) -> Filter:
        if name == "text":
            return Filter(F_TOKENS, "array_contains", self.text.token)
        if name == "series":
            return Filter(F_SERIES_KEY, "==", self.series_key)
        if name == "uploader":
            return Filter(F_UPLOADER, "==", self.uploader)
        if name == "episode":
            return Filter(F_EPISODE, "==", self.episode)
        if name == "tags":
            return Filter(F_TAG_KEYS, "array_contains_any", list(self.tag_keys))
        if name == "language":
            return Filter(F_LANGUAGE_KEY, "==", self.language_key)
        if name == "subtitles":
            return Filter(F_SUBTITLE_KEYS, "array_contains", self.subtitle_key)
        raise ValueError(name)

    def accepts(self, name: str, doc: Mapping[str, Any], text: search_text.DocumentText | None = None) -> bool:
        """Whether ``doc`` meets criterion ``name``; ``text`` is the document's :func:`document_text` when the caller
        keeps it (the ranking of the same document reuses it)."""
        if name == "text":
            return (text or document_text(doc)).matches(self.text)
        if name == "series":
            return doc.get(F_SERIES_KEY) == self.series_key
        if name == "uploader":
            return doc.get(F_UPLOADER) == self.uploader
        if name == "episode":
            return doc.get(F_EPISODE) == self.episode
        if name == "tags":
            keys = set(doc.get(F_TAG_KEYS) or [])
            return any(k in keys for k in self.tag_keys)
        if name == "language":
            return doc.get(F_LANGUAGE_KEY) == self.language_key
        if name == "subtitles":
            return self.subtitle_key in (doc.get(F_SUBTITLE_KEYS) or [])
        raise ValueError(name)


@dataclass(frozen=True)
class Stream:
    """One Firestore query of a search and what is left to check in memory on its documents."""

    query: VideoQuery
    fixed: Mapping[str, Any]  # sort fields pinned by an equality filter (left out of the Firestore order)
    residual: tuple[str, ...]  # criteria checked in memory

    @property
    def exact(self) -> bool:
        return not self.residual


@dataclass(frozen=True)
class SearchPlan:
    viewer: Viewer
    criteria: Criteria
    sort: str
    descending: bool
    limit: int
    streams: tuple[Stream, ...]
    fingerprint: str
    texts: dict[str, search_text.DocumentText] = field(default_factory=dict, compare=False, repr=False)
    """The normalized text of the documents matched so far (the ranking reuses what matching built)."""

    @property
    def sort_fields(self) -> tuple[str, ...]:
        return SORT_FIELDS[self.sort]

    @property
    def pages_per_window(self) -> int:
        return 1 if self.criteria.text.is_empty else RANK_WINDOW_PAGES

    @property
    def window(self) -> int:
        return self.pages_per_window * self.limit

    @property
    def budget(self) -> int:
        return min(max(BUDGET_PER_MATCH * self.window, MIN_BUDGET), MAX_BUDGET)

    def key(self, doc: Mapping[str, Any]) -> tuple[Any, ...]:
        return (*(doc[f] for f in self.sort_fields), doc["id"])

    def accepts(self, stream: Stream, doc: Mapping[str, Any]) -> bool:
        if not self.viewer.can_see(doc):
            return False
        if "text" not in stream.residual:
            return all(self.criteria.accepts(name, doc) for name in stream.residual)
        text = self.text_of(doc)
        if not all(self.criteria.accepts(name, doc, text) for name in stream.residual):
            return False
        if len(self.texts) >= 4 * self.window:  # a walk to a deep page: keep the memo to about one window
            self.texts.clear()
        self.texts[doc["id"]] = text  # a match: rank() needs it again
        return True

    def text_of(self, doc: Mapping[str, Any]) -> search_text.DocumentText:
        return self.texts.get(doc["id"]) or document_text(doc)

    def rank(self, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.criteria.text.is_empty:
            return docs
        plan = self.criteria.text
        tiers = {d["id"]: self.text_of(d).rank(plan) for d in docs}
        return sorted(docs, key=lambda d: -tiers[d["id"]])  # stable: the requested order breaks ties


def document_text(doc: Mapping[str, Any]) -> search_text.DocumentText:
    """A stored video's searchable text; its stored sort keys are the normalized title and series."""
    return search_text.DocumentText(doc.get("title", ""), doc.get("series", ""), doc.get("description", ""),
                                    doc.get("tags") or (), title_normalized=doc.get(F_TITLE_SORT),
                                    series_normalized=doc.get(F_SERIES_SORT))


def invalid_query(name: str, problem: str) -> RequestInvalid:
    return RequestInvalid(f"Invalid query: {name}: {problem}",
                          details={"fields": [{"field": name, "problem": problem}]})


def _stream(filters: list[Filter], sort_fields: tuple[str, ...], direction: Direction, residual: Iterable[str]
            ) -> Stream:
    pinned = {f.field: f.value for f in filters if f.op == "==" and f.field in sort_fields}
    order = tuple((name, direction) for name in sort_fields if name not in pinned)
    return Stream(VideoQuery(tuple(filters), order, direction), pinned, tuple(residual))


def plan_search(viewer: Viewer, query: SearchVideosQuery) -> SearchPlan:
    """The Firestore queries (one, or two for uploaders) and in-memory checks that answer ``query`` for
    ``viewer``. Pure: the index-coverage test enumerates every plan through this function."""
    criteria = Criteria.of(query)
    sort = query.sort or "title"
    descending = query.order == "desc"
    direction: Direction = "DESCENDING" if descending else "ASCENDING"
    sort_fields = SORT_FIELDS[sort]
    active = criteria.active()
    primary = active[0] if active else None
    primary_exact = primary is not None and (primary != "text" or criteria.text_exact)
    primary_filters = [criteria.firestore_filter(primary)] if primary else []
    residual = [name for name in active if not (name == primary and primary_exact)]
    # Admins filter on every status rather than none, so their queries share the viewers' indexes.
    visible = Filter(F_STATUS, "in", list(STATUSES)) if viewer.scope == "admin" else Filter(F_STATUS, "==", READY)
    streams = [_stream([visible, *primary_filters], sort_fields, direction, residual)]
    if viewer.scope == "uploader" and criteria.uploader in (None, viewer.id):
        own = [Filter(F_UPLOADER, "==", viewer.id), Filter(F_STATUS, "in", IN_PROGRESS)]
        streams.append(_stream(own, sort_fields, direction, [n for n in active if n != "uploader"]))
    identity = {
        "q": criteria.text.normalized, "series": criteria.series_key, "episode": criteria.episode,
        "language": criteria.language_key, "uploader": criteria.uploader, "tags": sorted(criteria.tag_keys),
        "subtitles": criteria.subtitle_key,
        "sort": sort, "order": query.order, "limit": query.limit, "scope": viewer.scope,
        "viewer": viewer.id if viewer.scope == "uploader" else None,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return SearchPlan(viewer, criteria, sort, descending, query.limit, tuple(streams), digest)
