"""Series: how a series document stays consistent with its episodes, and the series a viewer gets.

The series document (``series/{series_key(name)}``) lists its episodes ``{videoId, episode, status, uploaderId,
language, tags}`` and the aggregates derived from them: ``totalEpisodes`` (distinct episode numbers not failed),
``availableEpisodes`` (ready ones), ``language`` and ``tags`` (most frequent among ready episodes, else among all),
and ``name`` / ``description`` / ``thumbnailUrl`` from the *lead* episode (the lowest-numbered ready one, else
processing, else failed). Every video write settles its series in the same transaction (kstream.catalog.videos);
moving a video to another series updates both series; the last episode leaving deletes the series document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from contracts.metadata import GetSeriesResponse

from ..errors import ErrorCode, NotFound
from . import search_text
from .documents import READ_FIELDS, playback_links, to_metadata
from .repository import F_EPISODE, F_SERIES_KEY, F_STATUS, F_UPLOADER, CatalogRepository, TransactionView
from .visibility import FAILED, PROCESSING, READY, STATUSES, Viewer

__all__ = ["get_series", "series_document", "series_entry", "settle_series"]

SERIES_ENTRY_TAGS = 10
"""Tags kept per episode in the series document (enough to aggregate; bounds the document's size)."""
SERIES_TAGS = 30


_STATUS_RANK = {READY: 0, PROCESSING: 1, FAILED: 2}


def series_entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "videoId": doc["videoId"],
        "episode": doc[F_EPISODE],
        "status": doc[F_STATUS],
        "uploaderId": doc[F_UPLOADER],
        "language": doc.get("language", ""),
        "tags": list(doc.get("tags") or [])[:SERIES_ENTRY_TAGS],
    }


def lead_entry(entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    return min(entries, key=lambda e: (_STATUS_RANK.get(e["status"], 3), e["episode"], e["videoId"]), default=None)


def aggregate_pool(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The episodes aggregates are drawn from: ready ones, else those not failed, else all."""
    ordered = sorted(entries, key=lambda e: (e["episode"], e["videoId"]))
    for keep in ({READY}, {READY, PROCESSING}, set(STATUSES)):
        chosen = [e for e in ordered if e["status"] in keep]
        if chosen:
            return chosen
    return ordered


def aggregate_language(pool: Sequence[Mapping[str, Any]], lead: Mapping[str, Any]) -> str:
    counts = Counter(e["language"].casefold() for e in pool if e["language"])
    if not counts:
        return str(lead.get("language", ""))
    best = max(counts.values())
    tied = {k for k, n in counts.items() if n == best}
    if lead["language"].casefold() in tied:
        return str(lead["language"])
    return next(e["language"] for e in pool if e["language"].casefold() in tied)


def aggregate_tags(pool: Sequence[Mapping[str, Any]]) -> list[str]:
    counts: Counter[str] = Counter()
    shown: dict[str, str] = {}
    first: dict[str, int] = {}
    for entry in pool:
        for tag in entry["tags"]:
            key = search_text.normalize(tag)
            if not key:
                continue
            counts[key] += 1
            shown.setdefault(key, tag)
            first.setdefault(key, len(first))
    ranked = sorted(counts, key=lambda k: (-counts[k], first[k]))
    return [shown[k] for k in ranked[:SERIES_TAGS]]


def series_document(key: str, entries: list[dict[str, Any]], lead_doc: Mapping[str, Any],
                     previous: Mapping[str, Any] | None, now: datetime) -> dict[str, Any]:
    entries = sorted(entries, key=lambda e: (e["episode"], e["videoId"]))
    lead = lead_entry(entries)
    assert lead is not None
    pool = aggregate_pool(entries)
    return {
        "key": key,
        "name": lead_doc["series"],
        "description": lead_doc.get("description", ""),
        "thumbnailUrl": lead_doc.get("thumbnailUrl", ""),
        "leadId": lead["videoId"],
        "language": aggregate_language(pool, lead),
        "tags": aggregate_tags(pool),
        "totalEpisodes": len({e["episode"] for e in entries if e["status"] != FAILED}),
        "availableEpisodes": sorted({e["episode"] for e in entries if e["status"] == READY}),
        "episodes": entries,
        "createdAt": (previous or {}).get("createdAt", now),
        "updatedAt": now,
    }


def settle_series(view: TransactionView, key: str, entries: list[dict[str, Any]],
                   previous: Mapping[str, Any] | None, written: Mapping[str, Any] | None, now: datetime
                   ) -> dict[str, Any] | None:
    """The series document after a change, or None when no episode is left. Reads the lead episode when it is
    neither the video being written nor the lead already recorded (self-heals entries whose video is gone)."""
    while entries:
        lead = lead_entry(entries)
        assert lead is not None
        if written is not None and lead["videoId"] == written["videoId"]:
            lead_doc: Mapping[str, Any] | None = written
        elif previous is not None and previous.get("leadId") == lead["videoId"]:
            lead_doc = {"series": previous.get("name", ""), "description": previous.get("description", ""),
                        "thumbnailUrl": previous.get("thumbnailUrl", "")}
        else:
            lead_doc = view.get_video(lead["videoId"])
            if lead_doc is None or lead_doc.get(F_SERIES_KEY) != key:
                entries = [e for e in entries if e["videoId"] != lead["videoId"]]
                continue
        return series_document(key, entries, lead_doc, previous, now)
    return None


def get_series(repo: CatalogRepository, viewer: Viewer, name: str) -> GetSeriesResponse:
    """A series with the episodes the viewer may see, in episode order; 404 SERIES_NOT_FOUND when none."""
    missing = NotFound(f"No series {name!r}", code=ErrorCode.SERIES_NOT_FOUND, details={"seriesName": name})
    try:
        key = search_text.series_key(name)
    except ValueError:
        raise missing from None
    if len(name) > 300:
        raise missing
    doc = repo.get_series(key)
    if doc is None:
        raise missing
    visible = [e for e in doc.get("episodes", [])
               if viewer.can_see({F_STATUS: e.get("status"), F_UPLOADER: e.get("uploaderId")})]
    if not visible:
        raise missing
    found = repo.get_videos((e["videoId"] for e in visible), fields=READ_FIELDS)
    episodes = sorted((d for d in found.values() if viewer.can_see(d) and d.get(F_SERIES_KEY) == key),
                      key=lambda d: (d[F_EPISODE], d["id"]))
    face = {"name": doc.get("name", name), "description": doc.get("description", ""),
            "thumbnailUrl": doc.get("thumbnailUrl", ""), "language": doc.get("language", ""),
            "tags": list(doc.get("tags", []))}
    shown = {d["id"]: d for d in episodes}
    face_id = doc.get("leadId")
    if doc.get("leadId") not in shown:
        # The stored face of the series (name, description, thumbnail, language, tags) comes from an episode this
        # caller may not see (another uploader's processing or failed video): draw it from the visible ones only.
        entries = [e for e in visible if e["videoId"] in shown]
        lead = lead_entry(entries)
        lead_doc = shown[lead["videoId"]] if lead else {}
        face_id = lead_doc.get("id")
        pool = aggregate_pool(entries)
        face = {"name": lead_doc.get("series", face["name"]), "description": lead_doc.get("description", ""),
                "thumbnailUrl": lead_doc.get("thumbnailUrl", ""),
                "language": aggregate_language(pool, lead) if lead else "", "tags": aggregate_tags(pool)}
    links = playback_links()
    if links is not None:
        face["thumbnailUrl"] = links.artwork_url(face_id, face["thumbnailUrl"])
    return GetSeriesResponse(
        totalEpisodes=int(doc.get("totalEpisodes", 0)),
        availableEpisodes=list(doc.get("availableEpisodes", [])),
        episodes=[to_metadata(d, viewer, links=links) for d in episodes],
        **face,
    )
