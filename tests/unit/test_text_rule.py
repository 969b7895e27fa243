"""The one text rule (contracts/text.py) and the promise it exists for: whatever upload/start accepts, the catalogue
accepts when the upload completes, and search, series ids and storage metadata never meet text they cannot take."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from kstream import auth
from kstream.catalog import search_text
from kstream.catalog.documents import video_document
from kstream.catalog.repository import F_SERIES_KEY
from pydantic import ValidationError

from contracts import text
from contracts.metadata import CreateVideoMetadataRequest, SearchVideosQuery
from contracts.subtitles import PutSubtitleRequest
from contracts.upload import StartUploadRequest, UploadMetadata

C0 = [chr(c) for c in range(0x00, 0x20)]
C1 = [chr(c) for c in range(0x7F, 0xA0)]
FORMATS = ["\u00ad", "\u061c", "\u200b", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
           "\u2060", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\u200c", "\u200d"]
SEPARATORS = ["\u2028", "\u2029"]
REFUSED = C0 + C1 + FORMATS + SEPARATORS
JAMO_HAN = "\u1112\u1161\u11ab"  # 한 typed as three combining jamo
FULL_WIDTH = "ＫＤＲＡＭＡ　１"  # full-width letters, digits and an ideographic space


def test_python_strips_what_the_json_parser_keeps() -> None:
    """The bug's root: U+001C-U+001F are whitespace to str.strip but not to pydantic's trim (Unicode White_Space)."""
    assert "\x1c\x1d\x1e\x1f".strip() == ""
    assert UploadMetadata(title="t", series="\x1cA\x1f", episode=1).series == "A"


@pytest.mark.parametrize("ch", REFUSED, ids=lambda ch: f"U+{ord(ch):04X}")
def test_a_refused_character_inside_a_single_line_text_is_a_value_error(ch: str) -> None:
    with pytest.raises(ValueError, match=f"U\\+{ord(ch):04X}"):
        text.clean(f"a{ch} b" if ch not in ("\u200c", "\u200d") else f"a {ch}b")


@pytest.mark.parametrize("ch", REFUSED, ids=lambda ch: f"U+{ord(ch):04X}")
def test_every_string_field_refuses_or_trims_it_and_never_stores_it(ch: str) -> None:
    samples = [f"{ch}", f"{ch}A", f"A{ch}", f"A{ch}B", f"{ch * 3}"]
    for value in samples:
        for build in (lambda v: UploadMetadata(title=v, series=v, episode=1, description=v, tags=[v]),
                      lambda v: StartUploadRequest(filename=f"{v}.mp4", totalSize=1, metadata={
                          "title": "t", "series": "s", "episode": 1}),
                      lambda v: SearchVideosQuery(q=v, series=v, tags=v),
                      lambda v: PutSubtitleRequest(fileName=f"{v}.srt", content="", label=v)):
            try:
                model = build(value)
            except ValidationError:
                continue
            for stored in _strings(model.model_dump()):
                assert stored == stored.strip(), (value, stored)
                assert stored == unicodedata.normalize("NFC", stored)
                bad = [c for i, c in enumerate(stored) if c in REFUSED and c not in "\t\n" and not _joining(stored, i)]
                assert not bad, f"{value!r} stored as {stored!r}"


def _joining(value: str, index: int) -> bool:
    """A ZWJ/ZWNJ between two letters (the one place the rule keeps them)."""
    return value[index] in "\u200c\u200d" and 0 < index < len(value) - 1 and value[index - 1].isalpha() and \
        value[index + 1].isalpha()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_series_of_only_separator_characters_is_refused_as_empty() -> None:
    for name in ("\x1c", "\x1c\x1d\x1e\x1f", " \x1f "):
        with pytest.raises(ValidationError, match="must not be empty"):
            UploadMetadata(title="t", series=name, episode=1)
        with pytest.raises(ValidationError, match="must not be empty"):
            SearchVideosQuery(series=name)


def test_meaningful_format_characters_are_kept() -> None:
    scotland = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    for value in ("👩\u200d💻", "می\u200cخواهم", "क्\u200dष", scotland):
        assert text.clean(value) == value
    for value in ("\u200dab", "ab\u200d", "a \u200d b", "a\U000e0067"):
        with pytest.raises(ValueError, match="format character"):
            text.clean(value)


def test_nfc_and_length_in_characters() -> None:
    title = JAMO_HAN * 300  # 900 code points typed, 300 syllables stored
    metadata = UploadMetadata(title=title, series=JAMO_HAN, episode=1)
    assert metadata.title == "한" * 300 and metadata.series == "한"
    with pytest.raises(ValidationError, match="at most 300 characters, found 301"):
        UploadMetadata(title=title + JAMO_HAN, series="s", episode=1)
    assert UploadMetadata(title=FULL_WIDTH, series="s", episode=1).title == FULL_WIDTH


def test_multi_line_text_keeps_tabs_and_newlines_and_unifies_line_ends() -> None:
    assert text.clean(" a\r\nb\rc\td \n", multiline=True) == "a\nb\nc\td"
    with pytest.raises(ValueError, match="control character, U\\+001C"):
        text.clean("a\x1cb", multiline=True)
    with pytest.raises(ValueError, match="U\\+000A"):
        text.clean("a\nb")


def test_search_tags_are_cleaned_one_by_one() -> None:
    assert SearchVideosQuery(tags=" 로맨스 ,\x1c, Comedy").tags == "로맨스,Comedy"
    with pytest.raises(ValidationError, match="format character"):
        SearchVideosQuery(tags="a\u202eb")


ODD_BUT_VALID = ["\x1cA\x1f", JAMO_HAN * 3, FULL_WIDTH, "👩\u200d💻 Dev", " 사랑의　불시착 ", "Ｘ\u3000Ｙ", "!!!",
                 "\u00a0é\u0301\u00a0", "a" * 300]


@pytest.mark.parametrize("odd", ODD_BUT_VALID, ids=range(len(ODD_BUT_VALID)))
def test_what_upload_start_accepts_the_catalogue_accepts_at_complete(odd: str) -> None:
    """The registrar (functions/kstream/uploads/__init__.py) maps the stored start metadata onto the catalogue's
    request; it must validate, and the video document (series key, tokens, sort keys) must build."""
    meta = UploadMetadata(title=odd, series=odd, episode=1, description=odd, tags=[odd[:50]])
    stored = meta.model_dump(exclude_none=True)  # what upload/start keeps in the session
    owner = auth.principal_from_claims({"sub": "uid-1", "name": odd})
    request = CreateVideoMetadataRequest(
        videoId="v1", title=stored["title"], series=stored["series"], episode=stored["episode"],
        description=stored.get("description") or "", duration=0.0, fileSize=1, uploaderId=owner.id,
        uploaderUsername=owner.username, availableQualities=[], thumbnailUrl="", streamingUrls={"hls": ""},
        tags=stored.get("tags"), language=stored["language"], status="processing")
    assert request.model_dump() == CreateVideoMetadataRequest.model_validate(request.model_dump()).model_dump()
    document = video_document(request, status="processing")
    assert document[F_SERIES_KEY] == search_text.series_key(odd.strip().strip("\x1c\x1f"))


@pytest.mark.parametrize("name", ["\x1c", "a\u202eb", "x" * 300, "", None])
def test_a_profile_name_the_catalogue_would_refuse_is_not_the_username(name: Any) -> None:
    principal = auth.principal_from_claims({"sub": "uid-1", "name": name, "email": "a@kstream.test"})
    assert principal.username == "a@kstream.test"
