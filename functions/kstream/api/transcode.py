"""Spec 3.3 handlers: transcode-start and transcode-status (service identities only). Parse, delegate, answer."""

from __future__ import annotations

from contracts.transcode import GetJobStatusResponse, StartTranscodingRequest, StartTranscodingResponse

from ..http import ApiRequest
from ..transcode.service import service_for


def start(request: ApiRequest) -> StartTranscodingResponse:
    """POST /api/transcode/start"""
    return service_for(request.settings).start(request.json(StartTranscodingRequest))


def status(request: ApiRequest) -> GetJobStatusResponse:
    """GET /api/transcode/status/{jobId}"""
    return service_for(request.settings).status(request.params["jobId"])
