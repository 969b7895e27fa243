"""Catalog endpoints (spec 3.4 GetVideoMetadata, 3.5 metadata service): parse, delegate to kstream.catalog.

    GET  /api/videos/{videoId}               video-get        a video's metadata (visibility applies)
    POST /api/metadata/videos                metadata-upsert  create or update, service identities only
    GET  /api/metadata/videos/search         video-search     search, filter, sort, page
    GET  /api/metadata/series/{seriesName}   series-get       a series and its episodes in order

Each is its own deployed function: a handler imports the catalog module it needs when it first runs, so video-get
never loads the search engine and video-search never loads the writes. The repository (and its Firestore client)
is built once per process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..settings import Settings, per_settings

if TYPE_CHECKING:
    from contracts.metadata import GetSeriesResponse, SearchVideosResponse, VideoMetadata

    from ..catalog.repository import CatalogRepository
    from ..http import ApiRequest


@per_settings
def _repository(settings: Settings) -> CatalogRepository:
    from ..adapters import firestore
    from ..catalog.repository import CatalogRepository

    return CatalogRepository(firestore.client(settings))


def get_video(request: ApiRequest) -> VideoMetadata:
    from ..catalog.videos import get_video
    from ..catalog.visibility import Viewer

    return get_video(_repository(request.settings), Viewer.of(request.user), request.params["videoId"])


def upsert_metadata(request: ApiRequest) -> VideoMetadata:
    from contracts.metadata import CreateVideoMetadataRequest

    from ..catalog.videos import upsert_from_request

    return upsert_from_request(_repository(request.settings), request.json(CreateVideoMetadataRequest))


def search_videos(request: ApiRequest) -> SearchVideosResponse:
    from contracts.metadata import SearchVideosQuery

    from ..catalog.search import search
    from ..catalog.visibility import Viewer

    return search(_repository(request.settings), Viewer.of(request.user), request.query(SearchVideosQuery))


def get_series(request: ApiRequest) -> GetSeriesResponse:
    from ..catalog.series import get_series
    from ..catalog.visibility import Viewer

    return get_series(_repository(request.settings), Viewer.of(request.user), request.params["seriesName"])
