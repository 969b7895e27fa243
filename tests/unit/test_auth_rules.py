"""Roles, permissions and bearer parsing: the rules, without any token service."""

from __future__ import annotations

import base64

import pytest
from kstream import auth
from kstream.errors import InsufficientPermissions, InvalidToken
from kstream.registry import function_list


def test_permissions_grow_with_the_role() -> None:
    user, uploader, admin = (set(auth.ROLE_PERMISSIONS[r]) for r in ("user", "uploader", "admin"))
    assert user < uploader < admin
    assert "videos:upload" not in user
    assert "videos:upload" in uploader
    assert "users:manage" in admin


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer    ", "Bearer not-a-jwt",
                                    "Bearer a.b", "Bearer " + "a." * 5000 + "b", "Bearer a.b.c",
                                    "Bearer WzFd.e30.c2ln",  # a header that is a JSON list
                                    "Bearer e30." + base64.urlsafe_b64encode(b"[" * 2500 + b"]" * 2500).decode()
                                    + ".c2ln"])  # nested past the JSON parser's recursion limit
def test_malformed_authorization_is_invalid_token(header: str | None) -> None:
    with pytest.raises(InvalidToken):
        auth.bearer_token(header)


def test_bearer_token_extracted() -> None:
    assert auth.bearer_token("Bearer e30.e30.c2ln") == "e30.e30.c2ln"
    assert auth.bearer_token("bearer  e30.e30. ") == "e30.e30."


@pytest.mark.parametrize(("claims", "role"), [({}, "user"), ({"role": "uploader"}, "uploader"),
                                              ({"role": "admin"}, "admin"), ({"role": "root"}, "user")])
def test_role_comes_from_the_custom_claim_defaulting_to_user(claims: dict[str, str], role: str) -> None:
    principal = auth.principal_from_claims({"sub": "u1", "email": "a@b.c", **claims})
    assert principal.role == role
    assert principal.permissions == auth.ROLE_PERMISSIONS[role]
    assert principal.username == "a@b.c"


def test_permission_checked_against_the_function_list() -> None:
    upload = function_list().by_name("upload-start")
    viewer = auth.principal_from_claims({"sub": "u"})
    uploader = auth.principal_from_claims({"sub": "u", "role": "uploader"})
    auth.require_permission(uploader, upload)
    with pytest.raises(InsufficientPermissions, match="videos:upload"):
        auth.require_permission(viewer, upload)
    with pytest.raises(InsufficientPermissions, match="service"):
        auth.require_permission(uploader, function_list().by_name("transcode-start"))
