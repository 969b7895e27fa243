"""Catalog endpoints (spec 3.4 GetVideoMetadata, 3.5 metadata service): parse, delegate to kstream.catalog.

    GET  /api/videos/{videoId}               video-get        a video's metadata (visibility applies)
    POST /api/metadata/videos                metadata-upsert  create or update, service identities only
    GET  /api/metadata/videos/search         video-search     search, filter, sort, page
    GET  /api/metadata/series/{seriesName}   series-get       a series and its episodes in order
"""

from __future__ import annotations

from contracts.metadata import (
    CreateVideoMetadataRequest,
    GetSeriesResponse,
    SearchVideosQuery,
    SearchVideosResponse,
    VideoMetadata,
)

from ..adapters import firestore
from ..catalog import search, series, videos
from ..catalog.repository import CatalogRepository
from ..catalog.visibility import Viewer
from ..http import ApiRequest


def _repo(request: ApiRequest) -> CatalogRepository:
    return CatalogRepository(firestore.client(request.settings))


def get_video(request: ApiRequest) -> VideoMetadata:
    return videos.get_video(_repo(request), Viewer.of(request.user), request.params["videoId"])


def upsert_metadata(request: ApiRequest) -> VideoMetadata:
    body = request.json(CreateVideoMetadataRequest)
    return videos.upsert_from_request(_repo(request), body)


def search_videos(request: ApiRequest) -> SearchVideosResponse:
    query = request.query(SearchVideosQuery)
    return search.search(_repo(request), Viewer.of(request.user), query)


def get_series(request: ApiRequest) -> GetSeriesResponse:
    return series.get_series(_repo(request), Viewer.of(request.user), request.params["seriesName"])
