"""What the catalogue's reads fetch and reuse (unit level: no processes).

Reads (get, search, series) fetch a projection of each video (``documents.READ_FIELDS``) and a search normalizes a
document's text once for matching and ranking (``search_text.DocumentText``); both must answer exactly what the
whole document and the plain functions answer.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from kstream.catalog import documents, search_plan, search_text
from kstream.catalog.visibility import Viewer

from contracts.metadata import CreateVideoMetadataRequest, SearchVideosQuery

WORDS = ["crash", "landing", "Café", "MINAMDANG", "사랑의", "불시착", "도깨비", "이태원클라쓰2", "ｆｕｌｌ", "Œuvre",
         "l'amour", "c", "시그널", "キングダム", "王国", "--", "ri"]
NOT_READ = {"videoId", "subtitles", "searchTokens", "media", "updatedAt", "id"}
"""Stored fields the reads leave on the server (see documents.READ_FIELDS)."""


def _body(rng: random.Random, i: int) -> dict[str, Any]:
    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))

    return {"videoId": f"v{i}", "title": text(1, 4), "series": text(1, 3), "episode": rng.randint(1, 20),
            "description": text(0, 12), "duration": 60.5, "fileSize": 10, "uploaderId": "u1",
            "uploaderUsername": "Uploader", "availableQualities": ["360p", "720p"], "thumbnailUrl": "/t.jpg",
            "streamingUrls": {"hls": "/m.m3u8", "dash": "/m.mpd"}, "tags": [text(1, 2) for _ in range(2)],
            "language": "ko"}


TRACKS = [{"language": "ko", "label": "한국어", "kind": "subtitles", "default": True, "status": "ready"},
          {"language": "en", "label": "English", "kind": "subtitles", "status": "pending"}]


@pytest.mark.parametrize("status", ["ready", "processing", "failed", "playable"])
def test_a_projected_read_answers_what_the_whole_document_answers(status: str) -> None:
    request = CreateVideoMetadataRequest.model_validate(_body(random.Random(status), 1))
    whole = documents.video_document(request, status="ready")
    whole.update({"subtitleTracks": TRACKS, "status": status, "failureReason": "decoder error", "progress": 40})
    assert set(whole) - set(documents.READ_FIELDS) == NOT_READ, "a stored field is neither read nor left out"
    projected = {**{k: v for k, v in whole.items() if k in documents.READ_FIELDS}, "id": whole["id"]}
    for viewer in (Viewer("u1", "uploader"), Viewer("x", "viewer"), None):
        assert documents.to_metadata(projected, viewer) == documents.to_metadata(whole, viewer)


def test_a_documents_text_is_matched_and_ranked_as_the_plain_functions_do() -> None:
    rng = random.Random(14)
    docs = [documents.video_document(CreateVideoMetadataRequest.model_validate(_body(rng, i))) for i in range(150)]
    queries = ["사랑", "crash land", "cafe", "불시", "c", "이태원", "full", "oeuvre", "lamour", "王", "ri 사랑의",
               "minamdang 2"]
    tiers: set[int] = set()
    for doc in docs:
        for field in (doc["title"], doc["series"], doc["description"], *doc["tags"]):
            assert search_text.normalize(search_text.normalize(field)) == search_text.normalize(field)
        text = search_plan.document_text(doc)  # uses the stored titleSort / seriesSort
        for q in queries:
            plan = search_text.query_tokens(q)
            fields = [doc["title"], doc["series"], doc["description"], *doc["tags"]]
            assert text.matches(plan) == search_text.matches(plan, fields), (doc["id"], q)
            rank = search_text.rank(plan, doc["title"], doc["series"], doc["description"])
            assert text.rank(plan) == rank, (doc["id"], q)
            tiers.add(rank)
    assert len(tiers) >= 4  # the queries reach several tiers, not only "no hit"


def test_a_search_plan_keeps_the_text_of_matches_only_and_bounded() -> None:
    plan = search_plan.plan_search(Viewer("x", "viewer"), SearchVideosQuery(q="crash landing", limit=2))
    stream = plan.streams[0]
    assert "text" in stream.residual
    rng = random.Random(3)
    accepted: set[str] = set()
    for i in range(200):
        doc = documents.video_document(CreateVideoMetadataRequest.model_validate(_body(rng, i)))
        if plan.accepts(stream, doc):
            accepted.add(doc["id"])
        assert len(plan.texts) <= 4 * plan.window
        assert set(plan.texts) <= accepted  # only matches are kept (the ranking needs them again)
    assert len(accepted) > 4 * plan.window  # the memo was cut at least once
