"""The function list: parsing rules and route matching (versions included)."""

from __future__ import annotations

import pytest
from kstream.errors import ConfigurationError
from kstream.registry import function_list, parse_function_list

DEFAULTS = {"memory": "256Mi", "timeout_seconds": 60, "concurrency": 1, "min_instances": 0, "max_instances": 1}


def _one(**item: object) -> dict[str, object]:
    return {"defaults": DEFAULTS, "functions": [{"name": "f", "entry_point": "f", **item}]}


def test_every_spec_endpoint_is_its_own_function() -> None:
    routes = {(f.http.method, f.http.path) for f in function_list().http_functions if f.http}
    assert routes >= {
        ("POST", "/auth/validate"),
        ("POST", "/api/upload/start"),
        ("POST", "/api/upload/chunk/{uploadId}/{chunkIndex}"),
        ("POST", "/api/upload/complete/{uploadId}"),
        ("POST", "/api/transcode/start"),
        ("GET", "/api/transcode/status/{jobId}"),
        ("GET", "/api/stream/{videoId}"),
        ("GET", "/api/videos/{videoId}"),
        ("POST", "/api/metadata/videos"),
        ("GET", "/api/metadata/videos/search"),
        ("GET", "/api/metadata/series/{seriesName}"),
    }
    names = [f.name for f in function_list().functions]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("path", "method", "name", "params", "version"),
    [
        ("/api/upload/start", "POST", "upload-start", {}, None),
        ("/api/v1/upload/start", "POST", "upload-start", {}, "v1"),
        ("/api/v7/upload/start", "POST", "upload-start", {}, "v7"),
        ("/api/upload/chunk/u1/3", "POST", "upload-chunk", {"uploadId": "u1", "chunkIndex": "3"}, None),
        ("/api/v1/videos/abc", "GET", "video-get", {"videoId": "abc"}, "v1"),
        ("/api/videos/abc/", "GET", "video-get", {"videoId": "abc"}, None),
        ("/api/metadata/videos/search", "GET", "video-search", {}, None),
        ("/api/metadata/videos", "POST", "metadata-upsert", {}, None),
        ("/api/metadata/series/%EC%82%AC%EB%9E%91", "GET", "series-get", {"seriesName": "%EC%82%AC%EB%9E%91"}, None),
        ("/auth/validate", "POST", "auth-validate", {}, None),
    ],
)
def test_routes_match_with_and_without_version(path: str, method: str, name: str, params: dict[str, str],
                                               version: str | None) -> None:
    found = function_list().match(path, method)
    assert found is not None
    assert (found.function.name, found.params, found.version) == (name, params, version)


@pytest.mark.parametrize("path", ["/api/nope", "/api/v1", "/api/upload/chunk/u1", "/api/vx/upload/start",
                                  "/auth/v1/validate", "/api/videos/a/b"])
def test_unknown_paths_match_nothing(path: str) -> None:
    assert function_list().match(path) is None


def test_method_filters_routes_sharing_a_prefix() -> None:
    assert function_list().match("/api/metadata/videos", "GET") is None
    assert function_list().methods_for("/api/metadata/videos") == ["POST"]


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({"http": {"method": "FETCH", "path": "/x"}}, "http.method"),
        ({"http": {"method": "GET", "path": "x"}}, "http.path"),
        ({}, "exactly one of http or event"),
        ({"http": {"method": "GET", "path": "/x"}, "access": "user"}, "needs a permission"),
        ({"http": {"method": "GET", "path": "/x"}, "access": "anyone"}, "access must be"),
        ({"http": {"method": "GET", "path": "/x"}, "name": "Bad_Name"}, "name must be"),
        ({"http": {"method": "GET", "path": "/x"}, "rate_limited": "yes"}, "rate_limited must be"),
        ({"event": {"type": "t", "topic": "x"}, "rate_limited": True}, "only on HTTP"),
    ],
)
def test_bad_function_lists_are_refused_with_a_reason(item: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        parse_function_list(_one(**item))


def test_only_upload_start_keeps_its_own_quota() -> None:
    """The functions that answer 429 themselves (the edge leaves their 429s alone) are marked in the list."""
    assert [f.name for f in function_list().functions if f.rate_limited] == ["upload-start"]


def test_duplicate_names_are_refused() -> None:
    raw = {"defaults": DEFAULTS, "functions": [
        {"name": "f", "entry_point": "a", "http": {"method": "GET", "path": "/a"}},
        {"name": "f", "entry_point": "b", "http": {"method": "GET", "path": "/b"}},
    ]}
    with pytest.raises(ConfigurationError, match="duplicate"):
        parse_function_list(raw)
