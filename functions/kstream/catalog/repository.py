"""The catalog's Firestore access: the only module that reads or writes the ``videos`` and ``series`` collections.

Every call counts what Firestore bills as document reads in a :class:`ReadMeter` (``repo.meter``), so tests and the
bench can assert that a search page costs reads in proportion to its size, never to the catalogue's:

* a document get (found or not) or a query result: 1 read per document; a query with no result: 1 read;
* documents skipped by ``offset``: 1 read each (Firestore reads them and bills them);
* ``count()``: 1 read per batch of up to 1 000 index entries counted (at least 1).

Queries are described by :class:`VideoQuery` (filters + order) and turned into Firestore queries by ONE function,
:meth:`CatalogRepository.build`; the index-coverage test drives that same function over every query the service can
plan and checks ``functions/firestore.indexes.json`` against the result.

Schema of ``videos/{videoId}`` (field names are the constants below): the spec's metadata fields, plus
``status``, ``seriesKey``, ``titleSort`` / ``seriesSort`` (normalized, for ordering), ``languageKey``, ``tagKeys``,
``subtitleKeys`` (ready subtitle languages), ``searchTokens`` (kstream.catalog.search_text), ``uploadDate`` /
``updatedAt`` (timestamps).
Schema of ``series/{seriesKey}``: see kstream.catalog.series (the series aggregate is the catalog's rule).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from google.api_core import exceptions as google_exceptions
from google.api_core import retry as retries
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1 import types as firestore_types
from google.cloud.firestore_v1.base_query import FieldFilter

from ..errors import ErrorCode, Unavailable

__all__ = [
    "ARRAY_OPS",
    "EQUALITY_OPS",
    "SERIES",
    "VIDEOS",
    "CatalogRepository",
    "Filter",
    "ReadMeter",
    "TransactionView",
    "VideoQuery",
    "hashable",
]

VIDEOS = "videos"
SERIES = "series"

# Field names of video documents that queries use.
F_STATUS = "status"
F_UPLOADER = "uploaderId"
F_SERIES_KEY = "seriesKey"
F_EPISODE = "episode"
F_LANGUAGE_KEY = "languageKey"
F_TAG_KEYS = "tagKeys"
F_SUBTITLE_KEYS = "subtitleKeys"
F_TOKENS = "searchTokens"
F_TITLE_SORT = "titleSort"
F_SERIES_SORT = "seriesSort"
F_UPLOAD_DATE = "uploadDate"
DOC_ID = "__name__"

Op = Literal["==", "in", "array_contains", "array_contains_any"]
Direction = Literal["ASCENDING", "DESCENDING"]
EQUALITY_OPS = frozenset({"==", "in"})
ARRAY_OPS = frozenset({"array_contains", "array_contains_any"})

QUERY_REQUESTS_KEPT = 256
"""How many distinct fetches' built ``RunQuery`` requests a repository keeps (a few KB each)."""
COUNT_BATCH = 1000  # count() bills one read per batch of up to this many index entries
TIMEOUT_SECONDS = 15.0
"""Default bound of one Firestore call, retries included: a stuck backend becomes a 503, not a hung request."""

T = TypeVar("T")
_TRANSIENT = (google_exceptions.ServiceUnavailable, google_exceptions.InternalServerError,
              google_exceptions.TooManyRequests)


@dataclass
class ReadMeter:
    """Firestore reads billed during one request (or one service call)."""

    documents: int = 0  # documents returned by gets and queries
    skipped: int = 0  # documents skipped by offset
    empty_queries: int = 0  # queries that returned nothing (billed one read each)
    aggregation_reads: int = 0  # count(): one per batch of 1 000 index entries
    queries: int = 0  # round trips that ran a query or aggregation
    lookups: int = 0  # round trips that fetched documents by id

    @property
    def billed(self) -> int:
        """Every read Firestore bills for the calls counted here."""
        return self.documents + self.skipped + self.empty_queries + self.aggregation_reads

    def as_dict(self) -> dict[str, int]:
        return {
            "billed": self.billed,
            "documents": self.documents,
            "skipped": self.skipped,
            "empty_queries": self.empty_queries,
            "aggregation_reads": self.aggregation_reads,
            "queries": self.queries,
            "lookups": self.lookups,
        }


@dataclass(frozen=True)
class Filter:
    field: str
    op: Op
    value: Any

    def __post_init__(self) -> None:
        if self.op not in EQUALITY_OPS | ARRAY_OPS:
            raise ValueError(f"unsupported filter operator {self.op!r}")


@dataclass(frozen=True)
class VideoQuery:
    """A query on ``videos``: AND of ``filters``, ordered by ``order`` then by document id in ``direction``.

    Firestore allows one array filter per query and refuses to order by a field that has an equality filter;
    both are checked here.
    """

    filters: tuple[Filter, ...]
    order: tuple[tuple[str, Direction], ...]
    direction: Direction

    def __post_init__(self) -> None:
        arrays = [f for f in self.filters if f.op in ARRAY_OPS]
        if len(arrays) > 1:
            raise ValueError("Firestore allows one array-contains / array-contains-any filter per query")
        pinned = {f.field for f in self.filters if f.op in EQUALITY_OPS}
        clash = pinned.intersection(name for name, _ in self.order)
        if clash:
            raise ValueError(f"cannot order by {sorted(clash)}: they have equality filters")
        if self.order and self.order[-1][1] != self.direction:
            raise ValueError("the document-id order must follow the last order's direction")


def _unavailable(exc: Exception) -> Unavailable:
    return Unavailable(
        "The catalog database did not answer; try again shortly",
        code=ErrorCode.SYSTEM_UNAVAILABLE,
        details={"reason": type(exc).__name__},
    )


def _guard(call: Callable[[], T]) -> T:
    try:
        return call()
    except (google_exceptions.ServiceUnavailable, google_exceptions.DeadlineExceeded,
            google_exceptions.Aborted, google_exceptions.InternalServerError,
            google_exceptions.TooManyRequests, google_exceptions.RetryError) as exc:
        raise _unavailable(exc) from exc


def hashable(value: Any) -> Any:
    """``value`` (filters, a query, a cursor position) with its lists as tuples, so that it can be a dict key."""
    if isinstance(value, list | tuple):
        return tuple(hashable(v) for v in value)
    if isinstance(value, Filter):
        return (value.field, value.op, hashable(value.value))
    if isinstance(value, VideoQuery):
        return (hashable(value.filters), value.order, value.direction)
    return value


def _data(snapshot: Any) -> dict[str, Any]:
    """A document's fields and ``id``. The snapshot's own data is already a private deep copy (google-cloud-firestore
    2.x copies in the snapshot's constructor, and ``to_dict()`` copies again); the snapshot is dropped here, so a
    shallow copy of its data is as safe and saves a second deep copy of every document read."""
    stored = getattr(snapshot, "_data", None)
    data = dict(stored) if isinstance(stored, dict) else dict(snapshot.to_dict() or {})
    data["id"] = snapshot.id
    return data


class CatalogRepository:
    """Catalog reads and writes on one Firestore client, metered in ``self.meter``."""

    def __init__(self, db: firestore.Client, meter: ReadMeter | None = None, *,
                 timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self.db = db
        self.meter = meter if meter is not None else ReadMeter()
        self.timeout = timeout_seconds
        retry = retries.Retry(initial=0.1, maximum=1.0, multiplier=2.0, timeout=timeout_seconds,
                              predicate=retries.if_exception_type(*_TRANSIENT))
        self._call_options: dict[str, Any] = {"retry": retry, "timeout": timeout_seconds}
        self._requests: OrderedDict[tuple[Any, ...], firestore_types.RunQueryRequest] = OrderedDict()
        self._requests_lock = threading.Lock()
        self._documents_root = f"{db._database_string}/documents"  # where top-level collections live

    @property
    def _call(self) -> dict[str, Any]:
        """Keyword arguments of every Firestore call: transient errors retried, everything within ``timeout``
        (built once per repository: a Retry is immutable)."""
        return self._call_options

    # -- queries ----------------------------------------------------------------------------------------------
    def build(self, query: VideoQuery) -> firestore.Query:
        """The Firestore query for ``query`` (no cursor, no limit). The only place video queries are built."""
        built: Any = self.db.collection(VIDEOS)
        for flt in query.filters:
            built = built.where(filter=FieldFilter(flt.field, flt.op, flt.value))
        for name, direction in query.order:
            built = built.order_by(name, direction=direction)
        return built.order_by(DOC_ID, direction=query.direction)

    def fetch(self, query: VideoQuery, *, start: Sequence[Any] | None = None, inclusive: bool = False,
              limit: int, offset: int = 0, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Up to ``limit`` documents in ``query``'s order from the position ``start`` (values of a prefix of the
        order, document id last when complete; at it when ``inclusive``, else after it), skipping ``offset`` more
        (each skipped document is billed; callers only skip documents known to exist). ``fields``: only these
        fields of each document (a projection: the same reads, less to transfer and decode)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        request = self._query_request(query, start=start, inclusive=inclusive, limit=limit, offset=offset,
                                      fields=fields)
        docs = _guard(lambda: self._run_query(request))
        self.meter.queries += 1
        self.meter.documents += len(docs)
        self.meter.skipped += offset
        if not docs:
            self.meter.empty_queries += 1
        return docs

    def _query_request(self, query: VideoQuery, *, start: Sequence[Any] | None, inclusive: bool, limit: int,
                       offset: int, fields: Sequence[str] | None) -> firestore_types.RunQueryRequest:
        """The ``RunQuery`` request of a fetch, built once per distinct fetch and kept (least recently used out
        beyond ``QUERY_REQUESTS_KEPT``): a search sends the same few queries over and over, and building one through
        the client's query builder and proto-plus costs more CPU than running it."""
        key = (hashable(query), tuple(fields) if fields is not None else None, hashable(start or ()), inclusive,
               limit, offset)
        with self._requests_lock:
            request = self._requests.get(key)
            if request is not None:
                self._requests.move_to_end(key)
                return request
        built = self.build(query)
        if fields is not None:
            built = built.select(list(fields))
        if start:
            built = built.start_at(list(start)) if inclusive else built.start_after(list(start))
        if offset:
            built = built.offset(offset)
        built = built.limit(limit)
        request = firestore_types.RunQueryRequest(parent=self._documents_root,
                                                  structured_query=built._to_protobuf())
        with self._requests_lock:
            self._requests[key] = request
            while len(self._requests) > QUERY_REQUESTS_KEPT:
                self._requests.popitem(last=False)
        return request

    def _run_query(self, request: firestore_types.RunQueryRequest) -> list[dict[str, Any]]:
        """Run one query: its documents' fields (and ``id``), decoded straight from the response messages (no
        snapshot objects and their deep copies)."""
        docs: list[dict[str, Any]] = []
        responses = self.db._firestore_api.run_query(request=request, metadata=self.db._rpc_metadata, **self._call)
        for response in responses:
            raw = response._pb
            if raw.HasField("document"):
                docs.append(self._decoded(raw.document.fields, raw.document.name.rpartition("/")[2]))
        return docs

    def _decoded(self, fields: Any, document_id: str) -> dict[str, Any]:
        """A document's fields as Python values (the library's own decoding), and its ``id``."""
        data = _helpers.decode_dict(fields, self.db)
        data["id"] = document_id
        return data

    def count(self, query: VideoQuery, *, up_to: int) -> int:
        """How many documents match ``query``, counting at most ``up_to`` (so the cost is bounded)."""
        built = self.build(query).limit(up_to)
        result = _guard(lambda: built.count(alias="n").get(**self._call))
        value = int(result[0][0].value) if result and result[0] else 0  # the emulator answers 0.0 when empty
        self.meter.queries += 1
        self.meter.aggregation_reads += max(1, math.ceil(value / COUNT_BATCH))
        return value

    # -- documents --------------------------------------------------------------------------------------------
    def _get(self, collection: str, document_id: str, fields: Sequence[str] | None) -> dict[str, Any] | None:
        """One document by Firestore's unary ``GetDocument`` (one round trip; a missing document is billed one
        read like any get), or None. ``DocumentReference.get`` sends a ``BatchGetDocuments`` stream instead, whose
        gRPC call costs twice the client CPU of a unary one (decision 0011); reads inside transactions keep it."""
        reference = self.db.collection(collection).document(document_id)
        # The client's resource name, GAPIC client and routing metadata (pinned google-cloud-firestore; the
        # emulator tests exercise them): GetDocument has no public wrapper on firestore.Client.
        request: dict[str, Any] = {"name": reference._document_path}
        if fields is not None:
            request["mask"] = {"field_paths": list(fields)}

        def get() -> Any:
            try:
                return self.db._firestore_api.get_document(
                    request=request, metadata=self.db._rpc_metadata, **self._call)
            except google_exceptions.NotFound:
                return None

        found = _guard(get)
        self.meter.lookups += 1
        self.meter.documents += 1
        return None if found is None else self._decoded(found.fields, document_id)

    def get_video(self, video_id: str, *, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        """One video document (one round trip), or None; ``fields``: only these (a projection)."""
        return self._get(VIDEOS, video_id, fields)

    def get_videos(self, video_ids: Iterable[str], *, fields: Sequence[str] | None = None
                   ) -> dict[str, dict[str, Any]]:
        """The existing documents among ``video_ids`` (one round trip per 300 ids), by id; ``fields``: only these."""
        ids = list(dict.fromkeys(video_ids))
        found: dict[str, dict[str, Any]] = {}
        collection = self.db.collection(VIDEOS)
        for start in range(0, len(ids), 300):
            refs = [collection.document(i) for i in ids[start : start + 300]]
            snapshots = _guard(lambda refs=refs: list(self.db.get_all(refs, field_paths=fields, **self._call)))
            self.meter.lookups += 1
            self.meter.documents += len(refs)
            found.update({s.id: _data(s) for s in snapshots if s.exists})
        return found

    def get_series(self, key: str) -> dict[str, Any] | None:
        return self._get(SERIES, key, None)

    def put_videos(self, docs: Iterable[Mapping[str, Any]], *, batch_size: int = 500) -> int:
        """Write video documents in batched writes (500 a batch, Firestore's limit), outside any transaction.
        For loading catalogues (bench, tests): series documents are NOT maintained here."""
        written = 0
        batch = self.db.batch()
        pending = 0
        for doc in docs:
            batch.set(self.db.collection(VIDEOS).document(str(doc["id"])), _without_id(doc))
            pending += 1
            if pending == batch_size:
                _guard(batch.commit)
                written, pending, batch = written + pending, 0, self.db.batch()
        if pending:
            _guard(batch.commit)
            written += pending
        return written

    # -- transactions -----------------------------------------------------------------------------------------
    def in_transaction(self, work: Callable[[TransactionView], T], *, attempts: int = 6,
                       deadline_seconds: float = 30.0) -> T:
        """Run ``work`` in one Firestore transaction (all reads before writes), retried with jittered backoff while
        it loses to concurrent writers (ABORTED, also when raised by a read, which the client does not retry)."""

        @firestore.transactional
        def run(txn: firestore.Transaction) -> T:
            return work(TransactionView(self, txn))

        deadline = time.monotonic() + deadline_seconds
        delay = 0.05
        while True:
            try:
                return _guard_contention(lambda: run(self.db.transaction(max_attempts=attempts)))
            except _Contention as exc:
                if time.monotonic() + delay > deadline:
                    raise _unavailable(exc.__cause__ or exc) from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


class _Contention(Exception):
    """A transaction lost to concurrent writers; worth another try."""


def _guard_contention(call: Callable[[], T]) -> T:
    try:
        return _guard_aborted(call)
    except ValueError as exc:
        # The client raises ValueError("Failed to commit transaction in N attempts.") after losing every race.
        if "Failed to commit transaction" in str(exc):
            raise _Contention() from exc
        raise


def _guard_aborted(call: Callable[[], T]) -> T:
    try:
        return call()
    except google_exceptions.Aborted as exc:
        raise _Contention() from exc
    except (google_exceptions.ServiceUnavailable, google_exceptions.DeadlineExceeded,
            google_exceptions.InternalServerError, google_exceptions.TooManyRequests,
            google_exceptions.RetryError) as exc:
        raise _unavailable(exc) from exc


class TransactionView:
    """Reads and writes inside one transaction; reads are metered like any other."""

    def __init__(self, repo: CatalogRepository, txn: firestore.Transaction) -> None:
        self._repo = repo
        self._txn = txn

    def _get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        snapshot = self._repo.db.collection(collection).document(doc_id).get(transaction=self._txn,
                                                                              **self._repo._call)
        self._repo.meter.lookups += 1
        self._repo.meter.documents += 1
        return _data(snapshot) if snapshot.exists else None

    def get_video(self, video_id: str) -> dict[str, Any] | None:
        return self._get(VIDEOS, video_id)

    def get_series(self, key: str) -> dict[str, Any] | None:
        return self._get(SERIES, key)

    def set_video(self, video_id: str, data: Mapping[str, Any]) -> None:
        self._txn.set(self._repo.db.collection(VIDEOS).document(video_id), _without_id(data))

    def delete_video(self, video_id: str) -> None:
        self._txn.delete(self._repo.db.collection(VIDEOS).document(video_id))

    def set_series(self, key: str, data: Mapping[str, Any]) -> None:
        self._txn.set(self._repo.db.collection(SERIES).document(key), _without_id(data))

    def delete_series(self, key: str) -> None:
        self._txn.delete(self._repo.db.collection(SERIES).document(key))


def _without_id(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "id"}
