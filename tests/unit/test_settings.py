"""Settings are read once and a bad value is a clear start-up error naming the variable."""

from __future__ import annotations

import pytest
from kstream import settings as settings_module
from kstream.errors import ConfigurationError
from kstream.settings import Settings


def test_comma_separated_lists_are_split() -> None:
    built = Settings(project_id="demo-x", service_accounts="a@x.iam, b@x.iam,", oidc_issuers="https://i")
    assert built.service_accounts == ["a@x.iam", "b@x.iam"]
    assert built.oidc_issuers == ["https://i"]


def test_google_defaults_apply_in_the_cloud() -> None:
    built = Settings(project_id="demo-x")
    assert built.oidc_certs_url == "https://www.googleapis.com/oauth2/v1/certs"
    assert built.storage_public_url == "https://storage.googleapis.com"
    assert built.upload_starts_per_hour == 10


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "KSTREAM_PROJECT_ID"),
        ({"KSTREAM_PROJECT_ID": "demo-x", "KSTREAM_LOG_LEVEL": "LOUD"}, "KSTREAM_LOG_LEVEL"),
        ({"KSTREAM_PROJECT_ID": "demo-x", "KSTREAM_MAX_BODY_BYTES": "ten"}, "KSTREAM_MAX_BODY_BYTES"),
    ],
)
def test_bad_environment_is_a_configuration_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: str
) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("KSTREAM_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings_module.get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=names):
            settings_module.get_settings()
    finally:
        settings_module.get_settings.cache_clear()


def test_the_environment_fills_fields_by_name_as_strings_converted() -> None:
    built = Settings.from_environment({
        "KSTREAM_PROJECT_ID": "demo-env", "KSTREAM_DEBUG": "true", "KSTREAM_MAX_BODY_BYTES": "2048",
        "KSTREAM_SERVICE_ACCOUNTS": "a@x.iam,b@x.iam", "KSTREAM_NOT_A_SETTING": "ignored", "PROJECT_ID": "other",
    })
    assert (built.project_id, built.debug, built.max_body_bytes) == ("demo-env", True, 2048)
    assert built.service_accounts == ["a@x.iam", "b@x.iam"]
    assert built.region == "asia-northeast3"  # unset: the default


def test_a_misspelt_keyword_is_an_error_not_a_silent_default() -> None:
    with pytest.raises(ValueError, match="projet_id"):
        Settings(project_id="demo-x", projet_id="typo")  # type: ignore[call-arg]
