"""Unit: subtitle language tags (BCP 47, canonical form) and the label a CC menu shows by default."""

from __future__ import annotations

import pytest
from kstream.errors import ErrorCode
from kstream.subtitles import SubtitleInvalid, check_language, default_label


@pytest.mark.parametrize(
    ("tag", "canonical"),
    [
        ("ko", "ko"),
        ("en", "en"),
        ("EN", "en"),
        ("en-us", "en-US"),
        ("zh-hant", "zh-Hant"),
        ("zh-Hant-TW", "zh-Hant-TW"),
        ("pt-BR", "pt-BR"),
        ("es-419", "es-419"),
        ("ko-KR", "ko-KR"),
        ("iw", "he"),  # deprecated subtag -> its replacement
        ("zh-cmn-Hant", "zh-Hant"),  # extlang form -> its preferred form
        (" ja ", "ja"),
    ],
)
def test_known_tags_come_back_canonical(tag, canonical):
    assert check_language(tag) == canonical


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("", "is empty"),
        ("ko_KR", "is not a well-formed BCP 47 tag"),
        ("en--US", "is not a well-formed BCP 47 tag"),
        ("english", "is not a registered language tag"),
        ("xx", "is not a registered language tag"),
        ("zz-ZZ", "is not a registered language tag"),
        ("123", "is not a well-formed BCP 47 tag"),
        ("x-klingon", "is not a well-formed BCP 47 tag"),
        ("und", "names no particular language"),
        ("mul", "names no particular language"),
        ("zxx", "names no particular language"),
        ("qaa", "names no particular language"),
    ],
)
def test_unknown_or_malformed_tags_are_refused_on_the_language_field(tag, why):
    with pytest.raises(SubtitleInvalid) as caught:
        check_language(tag)
    error = caught.value
    assert (error.code, error.status) == (ErrorCode.REQUEST_INVALID, 400)
    assert error.details["field"] == "language"
    assert error.details["language"] == tag.strip()
    assert why in error.message


@pytest.mark.parametrize(
    ("tag", "label"),
    [
        ("ko", "한국어"),
        ("en", "English"),
        ("ja", "日本語"),
        ("zh-Hant", "中文（繁體）"),
        ("zh-Hans", "中文（简体）"),
        ("zh-TW", "中文（繁體, 台灣）"),  # CLDR has no 'Taiwan' in plain 'zh': named with its likely script
        ("pt-BR", "Português (Brasil)"),
        ("es", "Español"),
        ("th", "ไทย"),
        ("vi", "Tiếng Việt"),
    ],
)
def test_default_label_is_the_language_in_itself(tag, label):
    assert default_label(tag) == label
