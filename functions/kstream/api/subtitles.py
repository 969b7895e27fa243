"""Subtitle track endpoints (extension of spec 3.4): parse, delegate to kstream.subtitles.tracks, answer.

    GET    /api/videos/{videoId}/subtitles              subtitles-list    a video's tracks
    PUT    /api/videos/{videoId}/subtitles/{language}   subtitle-put      add (201) or replace (200) one language
    DELETE /api/videos/{videoId}/subtitles/{language}   subtitle-delete   remove one language (204)
"""

from __future__ import annotations

import flask

from contracts.subtitles import ListSubtitlesResponse, PutSubtitleRequest

from ..catalog.visibility import Viewer
from ..http import ApiRequest, json_response
from ..subtitles.tracks import tracks_for


def list_tracks(request: ApiRequest) -> ListSubtitlesResponse:
    return tracks_for(request.settings).list(Viewer.of(request.user), request.params["videoId"])


def put_track(request: ApiRequest) -> flask.Response:
    body = request.json(PutSubtitleRequest)
    track, created = tracks_for(request.settings).put(Viewer.of(request.user), request.params["videoId"],
                                                      request.params["language"], body)
    return json_response(track, status=201 if created else 200)


def delete_track(request: ApiRequest) -> flask.Response:
    tracks_for(request.settings).delete(Viewer.of(request.user), request.params["videoId"],
                                        request.params["language"])
    return flask.Response(status=204)
