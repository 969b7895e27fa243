"""POST /auth/validate (spec 3.1): the load balancer asks whether a token may reach ``X-Original-URI``."""

from __future__ import annotations

from urllib.parse import urlsplit

import flask

from contracts.auth import AuthUser, AuthValidationResponse

from .. import auth
from ..adapters import firebase_auth
from ..errors import InsufficientPermissions, RequestInvalid
from ..http import ApiRequest, json_response
from ..registry import function_list


def validate_token(request: ApiRequest) -> flask.Response:
    authorization = request.raw.headers.get("Authorization")
    token = auth.bearer_token(authorization)
    if firebase_auth.looks_like_firebase_token(token):
        principal = auth.authenticate_user(authorization, request.settings)
    else:
        principal = auth.authenticate_service(authorization, request.settings)
    request.identify(principal)
    original_uri = request.raw.headers.get("X-Original-URI")
    if original_uri:
        _check_reach(principal, original_uri, request.raw.headers.get("X-Original-Method"))
    body = AuthValidationResponse(
        valid=True,
        user=AuthUser(
            id=principal.id, username=principal.username, role=principal.role, permissions=list(principal.permissions)
        ),
    )
    return json_response(
        body,
        headers={
            "X-User-ID": principal.id,
            "X-User-Role": principal.role,
            "X-User-Permissions": ",".join(principal.permissions),
        },
    )


def _check_reach(principal: auth.Principal, original_uri: str, method: str | None) -> None:
    try:
        path = urlsplit(original_uri).path or "/"
    except ValueError:
        raise RequestInvalid("X-Original-URI is not a URI", details={"field": "X-Original-URI"}) from None
    route = function_list().match(path, method)
    if route is None:
        raise InsufficientPermissions(f"No endpoint at {path} that this token could be allowed to reach",
                                      details={"uri": path})
    target = route.function
    if target.access == "public":
        return
    if target.access == "service":
        if principal.kind != "service":
            raise InsufficientPermissions(f"{target.http.path if target.http else path} accepts only service "
                                          "identities", details={"uri": path})
        return
    if principal.kind == "service":
        raise InsufficientPermissions(f"{path} is for users, not service identities", details={"uri": path})
    auth.require_permission(principal, target)
