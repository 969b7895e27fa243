"""Every query the catalog can send to Firestore has a declared composite index (the emulator enforces none).

The test drives the real planner (``search_plan.plan_search``) over every combination of search parameters, roles,
sorts and orders, builds each planned query with the repository's own builder (``CatalogRepository.build``), reads
the shape back from the Firestore query protobuf, and checks it against ``functions/firestore.indexes.json`` with
Firestore's rules:

* no filter and at most one order field, or only equality filters and no order: single-field indexes serve it;
* otherwise a composite index whose fields are the equality fields and the array-contains field (in any order,
  equality fields in any direction), then exactly the order fields with their directions (``__name__`` last,
  implicit when it follows the last direction);
* Firestore refuses an order on a field that has an equality filter, and more than one array filter.

It also fails on declared indexes no query uses, and on queries served by single-field indexes that the file's
``fieldOverrides`` switch off.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from google.cloud.firestore_v1.types import StructuredQuery
from kstream.catalog import search_plan
from kstream.catalog.repository import VIDEOS, CatalogRepository
from kstream.catalog.visibility import Viewer

from contracts.metadata import MAX_SEARCH_TAGS, SearchVideosQuery

INDEX_FILE = Path(__file__).resolve().parents[2] / "functions" / "firestore.indexes.json"
DOC_ID = "__name__"
EQ = {StructuredQuery.FieldFilter.Operator.EQUAL, StructuredQuery.FieldFilter.Operator.IN}
ARRAY = {StructuredQuery.FieldFilter.Operator.ARRAY_CONTAINS, StructuredQuery.FieldFilter.Operator.ARRAY_CONTAINS_ANY}
DIRECTION = {StructuredQuery.Direction.ASCENDING: "ASCENDING", StructuredQuery.Direction.DESCENDING: "DESCENDING"}

# One value per parameter: planning depends on which parameters are present, not on their values (except q,
# whose exact / inexact plans differ, and uploader, which may be the caller).
PARAMETERS: dict[str, list[Any]] = {
    "q": ["crash", "사랑의 불시착"],  # one exact plan (a single word), one in-memory checked
    "series": ["사랑의 불시착"],
    "episode": [3],
    "language": ["ko"],
    "uploader": ["someone-else", "me"],
    "tags": ["romance,로맨스"],
    "subtitles": ["en"],
}
VIEWERS = [Viewer("me", "viewer"), Viewer("me", "uploader"), Viewer("me", "admin")]
SORTS = [None, "title", "uploadDate", "episode", "series"]
ORDERS = ["asc", "desc"]


@dataclass(frozen=True)
class Shape:
    equality: frozenset[str]
    array: str | None
    order: tuple[tuple[str, str], ...]
    ordered_equality: frozenset[str]  # fields both filtered by equality and ordered (Firestore refuses)
    arrays: int

    @property
    def needs_composite(self) -> bool:
        filters = len(self.equality) + (1 if self.array else 0)
        if filters == 0:
            return len(self.order) > 1
        if not self.order:
            return self.array is not None and bool(self.equality)
        return True


def _field_filters(where: StructuredQuery.Filter) -> list[StructuredQuery.FieldFilter]:
    if "composite_filter" in where:
        out: list[StructuredQuery.FieldFilter] = []
        for sub in where.composite_filter.filters:
            out += _field_filters(sub)
        return out
    if "field_filter" in where:
        return [where.field_filter]
    return []


def shape_of(query: firestore.Query) -> Shape:
    pb = query._to_protobuf()
    filters = _field_filters(pb.where) if "where" in pb else []
    equality = frozenset(f.field.field_path for f in filters if f.op in EQ)
    arrays = [f.field.field_path for f in filters if f.op in ARRAY]
    order = [(o.field.field_path, DIRECTION[o.direction]) for o in pb.order_by]
    if order and order[-1][0] == DOC_ID:
        implicit = order[-2][1] if len(order) > 1 else "ASCENDING"
        if order[-1][1] == implicit:
            order = order[:-1]  # the tie-break every index carries implicitly
    return Shape(equality, arrays[0] if arrays else None, tuple(order),
                 frozenset(equality.intersection(name for name, _ in order)), len(arrays))


def planned_queries() -> dict[Shape, str]:
    """Every distinct query shape the catalog can issue, with one example of where it comes from."""
    db = firestore.Client(project="demo-index-check", credentials=AnonymousCredentials())
    repo = CatalogRepository(db)
    shapes: dict[Shape, str] = {}
    built: dict[str, Shape] = {}
    names = list(PARAMETERS)
    for present in itertools.product([False, True], repeat=len(names)):
        chosen = [n for n, on in zip(names, present, strict=True) if on]
        for values in itertools.product(*(PARAMETERS[n] for n in chosen)):
            params = dict(zip(chosen, values, strict=True))
            for viewer, sort, order in itertools.product(VIEWERS, SORTS, ORDERS):
                query = SearchVideosQuery(**params, sort=sort, order=order)
                for stream in search_plan.plan_search(viewer, query).streams:
                    key = repr(stream.query)
                    if key not in built:
                        built[key] = shape_of(repo.build(stream.query))
                    shapes.setdefault(built[key], f"{viewer.scope} {params} sort={sort} order={order}")
    return shapes


def _declared() -> dict[str, Any]:
    return json.loads(INDEX_FILE.read_text())


def _covers(index: dict[str, Any], shape: Shape) -> bool:
    if index.get("collectionGroup") != VIDEOS or index.get("queryScope") != "COLLECTION":
        return False
    fields = list(index["fields"])
    if fields and fields[-1]["fieldPath"] == DOC_ID and shape.order and fields[-1].get("order") == shape.order[-1][1] \
            and shape.order[-1][0] != DOC_ID:
        fields = fields[:-1]
    prefix_len = len(fields) - len(shape.order)
    if prefix_len < 0:
        return False
    prefix, suffix = fields[:prefix_len], fields[prefix_len:]
    if [(f["fieldPath"], f.get("order")) for f in suffix] != list(shape.order):
        return False
    equality = {f["fieldPath"] for f in prefix if "order" in f}
    arrays = {f["fieldPath"] for f in prefix if f.get("arrayConfig") == "CONTAINS"}
    return len(prefix) == len(equality) + len(arrays) and equality == shape.equality and \
        arrays == ({shape.array} if shape.array else set())


@pytest.fixture(scope="module")
def shapes() -> dict[Shape, str]:
    return planned_queries()


def test_the_index_file_has_the_firebase_cli_format() -> None:
    declared = _declared()
    assert set(declared) == {"indexes", "fieldOverrides"}
    for index in declared["indexes"]:
        assert set(index) == {"collectionGroup", "queryScope", "fields"}
        for f in index["fields"]:
            assert set(f) in ({"fieldPath", "order"}, {"fieldPath", "arrayConfig"}), f
            assert f.get("order", "ASCENDING") in ("ASCENDING", "DESCENDING")
            assert f.get("arrayConfig", "CONTAINS") == "CONTAINS"
    for override in declared["fieldOverrides"]:
        assert set(override) == {"collectionGroup", "fieldPath", "indexes"}
    keys = [json.dumps(i, sort_keys=True) for i in declared["indexes"]]
    assert len(keys) == len(set(keys)), "an index is declared twice"


def test_the_planner_is_enumerated_widely(shapes: dict[Shape, str]) -> None:
    # Every primary criterion (or none) in every sort field and direction: a planner change that stops producing
    # one of these is a change this test must notice.
    primaries = {"seriesKey", "uploaderId", "episode", "languageKey", "searchTokens", "tagKeys", "subtitleKeys",
                 None}
    for primary in primaries:
        for sort_field, direction in itertools.product(["titleSort", "uploadDate", "seriesSort"],
                                                       ["ASCENDING", "DESCENDING"]):
            assert any((s.array == primary or primary in s.equality or (primary is None and s.equality ==
                        {"status"} and not s.array)) and (sort_field, direction) in s.order for s in shapes), \
                (primary, sort_field, direction)
    assert any(s.equality == {"status", "uploaderId"} for s in shapes)  # an uploader's own videos
    assert all("status" in s.equality for s in shapes)  # visibility is always a filter, never forgotten


def test_firestore_would_accept_every_query(shapes: dict[Shape, str]) -> None:
    for shape, example in shapes.items():
        assert shape.arrays <= 1, example
        assert not shape.ordered_equality, f"orders by an equality-filtered field: {example}"


def test_every_query_has_an_index(shapes: dict[Shape, str]) -> None:
    indexes = _declared()["indexes"]
    missing = [f"{example}: {shape}" for shape, example in shapes.items()
               if shape.needs_composite and not any(_covers(i, shape) for i in indexes)]
    assert not missing, f"{len(missing)} query shapes lack a composite index, e.g. " + "\n".join(missing[:5])


def test_no_index_is_unused(shapes: dict[Shape, str]) -> None:
    unused = [i for i in _declared()["indexes"] if not any(_covers(i, s) for s in shapes if s.needs_composite)]
    assert not unused, f"{len(unused)} declared indexes serve no query, e.g. {unused[:2]}"


def test_single_field_queries_keep_their_single_field_indexes(shapes: dict[Shape, str]) -> None:
    exempt = {o["fieldPath"] for o in _declared()["fieldOverrides"]
              if o["collectionGroup"] == VIDEOS and not o["indexes"]}
    for shape, example in shapes.items():
        if not shape.needs_composite:
            used = set(shape.equality) | {name for name, _ in shape.order} | ({shape.array} if shape.array else set())
            assert not used & exempt, f"{example} needs single-field indexes on {used & exempt}"


def test_the_checker_itself_tells_covered_from_uncovered() -> None:
    shape = Shape(frozenset({"status"}), "searchTokens", (("titleSort", "DESCENDING"),), frozenset(), 1)
    good = {"collectionGroup": VIDEOS, "queryScope": "COLLECTION", "fields": [
        {"fieldPath": "searchTokens", "arrayConfig": "CONTAINS"}, {"fieldPath": "status", "order": "ASCENDING"},
        {"fieldPath": "titleSort", "order": "DESCENDING"}]}
    assert _covers(good, shape)
    wrong_direction = json.loads(json.dumps(good))
    wrong_direction["fields"][2]["order"] = "ASCENDING"
    assert not _covers(wrong_direction, shape)
    extra = json.loads(json.dumps(good))
    extra["fields"].insert(0, {"fieldPath": "seriesKey", "order": "ASCENDING"})
    assert not _covers(extra, shape)
    assert Shape(frozenset(), None, (("titleSort", "ASCENDING"),), frozenset(), 0).needs_composite is False
    assert Shape(frozenset({"a", "b"}), None, (), frozenset(), 0).needs_composite is False
    assert Shape(frozenset({"a"}), "t", (), frozenset(), 1).needs_composite is True


def test_or_expansions_stay_within_firestores_30_disjunctions() -> None:
    """``in`` and ``array-contains-any`` are ORs: Firestore refuses a query whose disjunctive normal form has more
    than 30 terms. The widest plan: an admin (status in 3 values) with the most tags a search accepts."""
    tags = ",".join(f"t{i}" for i in range(MAX_SEARCH_TAGS))
    for scope in ("viewer", "uploader", "admin"):
        for stream in search_plan.plan_search(Viewer("me", scope), SearchVideosQuery(tags=tags)).streams:
            terms = 1
            for flt in stream.query.filters:
                if flt.op in ("in", "array_contains_any"):
                    assert len(flt.value) <= 30
                    terms *= len(flt.value)
            assert terms <= 30, (scope, stream.query)
