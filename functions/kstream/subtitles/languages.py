"""Subtitle languages: BCP 47 tags checked and canonicalised, and each language's name in itself for the CC menu.

langcodes (IANA subtag registry) says whether a tag is valid and gives its canonical form ('EN-us' -> 'en-US',
'iw' -> 'he', 'zh-cmn-Hant' -> 'zh-Hant'); language-data (CLDR) gives the autonyms ('ko' -> '한국어').
Refused besides malformed and unregistered tags: the special codes that name no language (und, mul, zxx, mis),
private use (qaa..qtz, x-...), and '_' separators (common, but not BCP 47).
"""

from __future__ import annotations

import re

import langcodes

from .model import SubtitleInvalid

# RFC 5646 section 2.1 (langtag), without grandfathered tags, which langcodes maps itself.
_LANGTAG = re.compile(
    r"""^(?:
        (?P<language>[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})
        (?:-(?P<script>[a-z]{4}))?
        (?:-(?P<region>[a-z]{2}|\d{3}))?
        (?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*
        (?:-[\da-wy-z](?:-[a-z\d]{2,8})+)*
        (?:-x(?:-[a-z\d]{1,8})+)?
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_NOT_A_LANGUAGE = {"und", "mul", "zxx", "mis"}


def _refuse(tag: str, why: str) -> SubtitleInvalid:
    return SubtitleInvalid(f"language {tag!r} {why}", field="language", language=tag)


def check_language(tag: str) -> str:
    """The canonical form of a well-formed BCP 47 tag whose language is registered; SubtitleInvalid otherwise."""
    if not isinstance(tag, str) or not tag.strip():
        raise _refuse(str(tag), "is empty: give a BCP 47 tag such as 'ko', 'en' or 'pt-BR'")
    tag = tag.strip()
    match = _LANGTAG.match(tag)
    if not match:
        raise _refuse(tag, "is not a well-formed BCP 47 tag (such as 'ko', 'en', 'zh-Hant' or 'pt-BR')")
    primary = match.group("language").lower()
    if primary in _NOT_A_LANGUAGE or re.fullmatch(r"q[a-t][a-z]", primary):
        raise _refuse(tag, "names no particular language")
    try:
        valid = langcodes.tag_is_valid(tag)
        canonical = langcodes.standardize_tag(tag) if valid else ""
    except (ValueError, langcodes.LanguageTagError):
        valid, canonical = False, ""
    if not valid or not canonical or not langcodes.Language.get(canonical).is_valid():
        raise _refuse(tag, "is not a registered language tag")
    return canonical


def default_label(tag: str) -> str:
    """The language's own name, capitalised as a menu shows it: 'ko' -> '한국어', 'en' -> 'English', 'ja' -> '日本語',
    'pt-BR' -> 'Português (Brasil)'. Falls back to the English name, then to the tag itself."""
    try:
        language = langcodes.Language.get(tag)
        bare = langcodes.Language.get(language.language or "").autonym()
        name = language.autonym()
        if not name.startswith(bare):  # CLDR lacks this region in this language: name it with its likely script
            maximized = language.maximize()
            with_script = langcodes.Language.make(
                language=maximized.language, script=maximized.script, territory=language.territory
            )
            name = with_script.autonym()
            if not name.startswith(bare):
                name = bare
    except (ValueError, LookupError, langcodes.LanguageTagError):
        return tag
    if not name or name.lower().startswith("unknown"):
        return tag
    return name[:1].upper() + name[1:]
