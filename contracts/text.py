"""The one rule for every user-visible string a client sends: titles, series, descriptions, tags, labels, filenames.

A string is accepted when, after Unicode NFC normalisation (so Hangul typed as combining jamo, U+1112 U+1161 U+11AB,
becomes the syllable 한 that a keyboard sends), it holds

- no control character: C0 (U+0000-U+001F, which includes U+001C-U+001F that Python's ``str.strip`` treats as
  whitespace), DEL, C1 (U+0080-U+009F); a multi-line field (a description) may hold tab and line feed, and CR LF or a
  lone CR become LF;
- no format character (category Cf: bidi controls U+202A-U+202E and U+2066-U+2069, zero-width space, word joiner,
  BOM, soft hyphen, ...) except where it means something: a zero-width joiner or non-joiner between two letters,
  marks or symbols (emoji sequences such as woman + U+200D + laptop, Persian and Indic spelling), and emoji tag
  characters after a flag;
- no line or paragraph separator (U+2028, U+2029) and no lone surrogate;

once trimmed of whatever ``str.strip`` strips (so ``value == value.strip()`` holds for every stored value, and a
name made only of U+001C-U+001F is empty, not a name).
Lengths are counted in characters (code points) of the trimmed NFC text, as JSON Schema's minLength/maxLength count
them. Full-width letters (ＡＢＣ) are kept as typed: search folds them (NFKC), the catalogue shows what was given.

Fields declare the rule with :func:`text` (an ``Annotated`` type) or call :func:`clean` directly. Whatever a request
model accepts is therefore already in the form every later step (search keys, series ids, storage metadata) sees.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, Field

ZWNJ, ZWJ = "\u200c", "\u200d"
_REFUSED_CATEGORIES = {"Cc": "control", "Cf": "format", "Zl": "line separator", "Zp": "paragraph separator",
                       "Cs": "surrogate"}
_MULTILINE_CONTROLS = {"\t", "\n"}
_TAG_CHARACTERS = range(0xE0020, 0xE0080)  # emoji tag sequences: 🏴 + tags + CANCEL TAG (U+E007F)
_BLACK_FLAG = "\U0001F3F4"


def clean(value: str, *, multiline: bool = False) -> str:
    """``value`` in the stored form (NFC, trimmed); ValueError naming the first refused character otherwise."""
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = unicodedata.normalize("NFC", value).strip()
    for index, ch in enumerate(value):
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if kind is None or (multiline and ch in _MULTILINE_CONTROLS) or _meaningful_format(value, index):
            continue
        name = unicodedata.name(ch, "") if kind != "surrogate" else ""
        shown = f"U+{ord(ch):04X}" + (f" {name}" if name else "")
        where = "a multi-line" if multiline else "a single-line"
        allowed = " (tab and line feed are the only control characters allowed)" if multiline else ""
        raise ValueError(f"a {kind} character, {shown}, at position {index + 1}: {where} text may not hold "
                         f"control or format characters{allowed}")
    return value


def bounded(value: str, min_length: int, max_length: int) -> str:
    """``value`` when its length in characters is within the bounds; ValueError saying which otherwise."""
    if len(value) < min_length:
        raise ValueError("must not be empty (or only spaces)" if min_length == 1 and not value else
                         f"at least {min_length} characters, found {len(value)}")
    if len(value) > max_length:
        raise ValueError(f"at most {max_length} characters, found {len(value)}")
    return value


def _meaningful_format(value: str, index: int) -> bool:
    """Whether the format character at ``index`` carries meaning where it stands."""
    ch = value[index]
    if ch in (ZWJ, ZWNJ):
        return 0 < index < len(value) - 1 and _joinable(value[index - 1]) and _joinable(value[index + 1])
    if ord(ch) in _TAG_CHARACTERS:
        before = value[:index].rstrip("".join(chr(c) for c in _TAG_CHARACTERS))
        return before.endswith(_BLACK_FLAG)
    return False


def _joinable(ch: str) -> bool:
    """Letters, marks and symbols (emoji are symbols): what a joiner or non-joiner can sit between."""
    return unicodedata.category(ch)[0] in "LMS"


def text(*, min_length: int = 1, max_length: int, multiline: bool = False, pattern: str | None = None) -> Any:
    """A string field under the text rule, its length bounds checked on the cleaned text (and published in the
    JSON Schema). ``Annotated`` metadata order matters: the bounds come after the validator."""

    def validator(value: str) -> str:
        return bounded(clean(value, multiline=multiline), min_length, max_length)

    # pydantic leaves a pattern that follows a validator out of the JSON Schema: publish it explicitly.
    return Annotated[str, AfterValidator(validator), Field(min_length=min_length, max_length=max_length,
                                                           pattern=pattern, json_schema_extra=pattern and {
                                                               "pattern": pattern})]


def split_list(value: str, *, max_items: int, max_length: int, field: str) -> list[str]:
    """A comma-separated query value (``tags=a,b``) as its cleaned, non-empty items; ValueError otherwise."""
    items = [clean(item) for item in value.split(",")]
    items = [item for item in items if item]
    if not items:
        raise ValueError(f"give at least one {field}, comma-separated")
    if len(items) > max_items:
        raise ValueError(f"at most {max_items} {field}s, found {len(items)}")
    longest = max(items, key=len)
    if len(longest) > max_length:
        raise ValueError(f"a {field} is at most {max_length} characters, found {len(longest)}")
    return items


FileName = text(max_length=255)
"""A file's name as the user's system showed it (uploads, subtitle files): the text rule, at most 255 characters."""
