"""Unit tests for kstream.catalog.search_text (Korean-aware Firestore search tokens)."""

from __future__ import annotations

import unicodedata

import pytest
from kstream.catalog.search_text import (
    MAX_DOC_TOKENS,
    MAX_PREFIX_LEN,
    MAX_QUERY_CHARS,
    MAX_QUERY_TOKENS,
    RANK_DESCRIPTION,
    RANK_EXACT_TITLE,
    RANK_MIXED,
    RANK_NONE,
    RANK_SERIES,
    RANK_TITLE_CONTAINS,
    RANK_TITLE_PREFIX,
    document_tokens,
    matches,
    normalize,
    query_tokens,
    rank,
    series_key,
)

CLOY = ("사랑의 불시착", "사랑의 불시착", "재벌 상속녀 윤세리와 북한 장교 리정혁의 이야기", ["로맨스", "romance"])
CLOY_EN = ("Crash Landing on You", "Crash Landing on You", "A paragliding mishap strands an heiress in the North.", [])
ITAEWON = ("이태원 클라쓰 Itaewon Class", "Itaewon Class", "An ex-con opens a bar in Itaewon.", ["drama"])
CAFE = ("Café Minamdang", "Café Minamdang", "A former profiler poses as a shaman.", [])


def _hits(doc: tuple[str, str, str, list[str]], q: str) -> bool:
    """Full search path: the doc must be returned by Firestore (token present) AND pass the post-filter."""
    title, series, description, tags = doc
    plan = query_tokens(q)
    in_firestore = plan.token is None or plan.token in document_tokens(title, series, description, tags)
    return in_firestore and matches(plan, [title, series, description, *tags])


# --- normalize -------------------------------------------------------------------------------------------------


def test_normalize_keeps_hangul_syllables_composed() -> None:
    out = normalize("사랑의 불시착")
    assert out == "사랑의 불시착"
    assert all(0xAC00 <= ord(c) <= 0xD7A3 for c in out.replace(" ", ""))


def test_normalize_recomposes_decomposed_hangul_input() -> None:
    decomposed = unicodedata.normalize("NFD", "불시착")
    assert len(decomposed) > 3  # jamo
    assert normalize(decomposed) == "불시착"


def test_normalize_case_accents_width_and_punctuation() -> None:
    assert normalize("CAFÉ") == "cafe"
    assert normalize("Ｃａｆé  —  Minamdang!!") == "cafe minamdang"
    assert normalize("Øl Straße Łódź") == "ol strasse lodz"
    assert normalize("It\u2019s  Okay\tto\nNot Be Okay") == "its okay to not be okay"
    assert normalize("   ") == ""
    assert normalize(None) == ""


# --- Hangul: particles, prefixes, infixes ---------------------------------------------------------------------


def test_hangul_word_with_particle_matches_bare_word() -> None:
    assert _hits(CLOY, "사랑")  # 사랑의 -> 사랑
    assert _hits(CLOY, "리정혁")  # 리정혁의 -> 리정혁


def test_hangul_prefix_and_infix_match() -> None:
    assert _hits(CLOY, "불시")  # prefix of 불시착
    assert _hits(CLOY, "랑의")  # infix
    assert _hits(CLOY, "불시착")


def test_hangul_non_substring_does_not_match() -> None:
    assert not _hits(CLOY, "사랑해")
    assert not _hits(CLOY, "불착")  # both syllables present, but not adjacent
    assert not matches(query_tokens("사랑해"), list(CLOY[:3]))


def test_hangul_tokens_are_syllables_and_bigrams() -> None:
    toks = set(document_tokens("사랑의", "", ""))
    assert toks == {"사", "랑", "의", "사랑", "랑의"}


# --- Latin: case, accents, word prefix only ------------------------------------------------------------------


def test_latin_case_and_accent_insensitive() -> None:
    assert query_tokens("CAFÉ").token == query_tokens("cafe").token == "cafe"
    assert _hits(CAFE, "CAFÉ")
    assert _hits(CAFE, "cafe minam")
    assert _hits(("Cafe Minamdang", "", "", []), "Café")


def test_latin_multiword_prefix_query() -> None:
    assert _hits(CLOY_EN, "crash land")
    assert _hits(CLOY_EN, "CRASH landing ON you")


def test_latin_infix_does_not_match() -> None:
    plan = query_tokens("rash")
    assert plan.token not in document_tokens(*CLOY_EN)
    assert not matches(plan, list(CLOY_EN[:3]))
    assert not _hits(CLOY_EN, "anding")


def test_single_char_latin_query_matches_only_whole_word() -> None:
    assert "c" not in document_tokens(*CLOY_EN)
    assert not _hits(CLOY_EN, "c")
    assert _hits(("Plan C", "", "", []), "c")
    # consistent in the post-filter too, whichever token was chosen for Firestore
    assert not matches(query_tokens("landing c"), ["Crash Landing on You"])


def test_long_latin_word_filters_on_prefix_and_checks_rest_in_memory() -> None:
    word = "supercalifragilisticexpialidocious"
    plan = query_tokens(word)
    assert plan.token == word[:MAX_PREFIX_LEN]
    assert plan.token in document_tokens(word, "", "")
    assert matches(plan, [word])
    assert not matches(plan, [word[:MAX_PREFIX_LEN] + "zzz"])


# --- mixed scripts, tags, AND semantics -----------------------------------------------------------------------


def test_mixed_script_title() -> None:
    for q in ("이태원", "클라", "itaewon", "ITAE cla", "이태원 class"):
        assert _hits(ITAEWON, q), q
    assert not _hits(ITAEWON, "클라스")


def test_mixed_script_without_space_is_split_into_runs() -> None:
    doc = ("BTS방탄소년단 다큐", "", "", [])
    assert _hits(doc, "bts")
    assert _hits(doc, "방탄")
    assert _hits(doc, "bts 소년")


def test_multiword_query_requires_all_words() -> None:
    assert _hits(CLOY_EN, "crash landing")
    assert not _hits(CLOY_EN, "crash goblin")
    assert not _hits(CLOY, "사랑 도깨비")


def test_words_may_match_in_different_fields() -> None:
    assert _hits(CLOY_EN, "crash heiress")  # title + description
    assert _hits(CLOY, "불시착 romance")  # title + tag


def test_tags_are_indexed_and_searchable() -> None:
    toks = document_tokens("제목", "시리즈", "", ["Romance", "로맨스"])
    assert "rom" in toks and "로맨" in toks
    assert _hits(CLOY, "romance")


def test_query_token_is_most_selective_word() -> None:
    assert query_tokens("on you landing").token == "landing"
    assert query_tokens("a bb ccc").token == "ccc"


# --- ranking ---------------------------------------------------------------------------------------------------


def test_rank_tiers() -> None:
    plan = query_tokens("crash landing")
    assert rank(plan, "Crash Landing", "x", "y") == RANK_EXACT_TITLE
    assert rank(plan, "Crash Landing on You", "x", "y") == RANK_TITLE_PREFIX
    assert rank(plan, "The Crash Landing", "x", "y") == RANK_TITLE_CONTAINS
    assert rank(plan, "Episode 1", "Crash Landing on You", "y") == RANK_SERIES
    assert rank(plan, "Episode 1", "Other", "After a crash landing...") == RANK_DESCRIPTION
    assert rank(plan, "Crash", "Other", "landing gear") == RANK_MIXED
    assert rank(plan, "Goblin", "Goblin", "A goblin.") == RANK_NONE


def test_rank_orders_results() -> None:
    plan = query_tokens("사랑의 불시착")
    docs = {
        "desc": ("1화", "기타", "사랑의 불시착 촬영지"),
        "prefix": ("사랑의 불시착 스페셜", "기타", ""),
        "exact": ("사랑의 불시착", "사랑의 불시착", ""),
        "series": ("1화", "사랑의 불시착", ""),
    }
    ordered = sorted(docs, key=lambda k: rank(plan, *docs[k]), reverse=True)
    assert ordered == ["exact", "prefix", "series", "desc"]


def test_rank_is_case_and_accent_insensitive_and_empty_plan_ranks_zero() -> None:
    assert rank(query_tokens("CAFE MINAMDANG"), "Café Minamdang", "", "") == RANK_EXACT_TITLE
    assert rank(query_tokens(""), "Café Minamdang", "", "") == RANK_NONE


# --- bounds ----------------------------------------------------------------------------------------------------


def test_token_bound_on_very_long_description_keeps_title_first() -> None:
    description = " ".join(f"word{i:05d}xyz" for i in range(3000))
    hangul = "".join(chr(0xAC00 + i) for i in range(0, 3000, 7))
    toks = document_tokens("Crash Landing on You", "사랑의 불시착", description + " " + hangul, ["romance"])
    assert len(toks) == MAX_DOC_TOKENS
    assert len(set(toks)) == len(toks)
    for must in ("crash", "landing", "you", "사랑", "불시", "romance"):
        assert must in toks
    assert "word02999" not in toks  # the tail of the description was trimmed


def test_huge_title_alone_is_bounded() -> None:
    title = "".join(chr(0xAC00 + i * 3) for i in range(300))  # 300 distinct syllables, no spaces
    toks = document_tokens(title, "", "")
    assert len(toks) == MAX_DOC_TOKENS
    assert toks[0] == title[0]


def test_document_tokens_are_deduplicated() -> None:
    toks = document_tokens("Love Love Love", "love", "LOVE love", ["love"])
    assert toks == ["lo", "lov", "love"]


def test_required_tokens_are_capped_and_start_with_token() -> None:
    plan = query_tokens(" ".join(f"wordnumber{i}" for i in range(15)))
    assert 0 < len(plan.required_tokens) <= MAX_QUERY_TOKENS
    assert plan.required_tokens[0] == plan.token


# --- empty and overlong queries --------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["", "   \t\n", None, "!!! ..."])
def test_empty_query_has_no_text_filter(q: str | None) -> None:
    plan = query_tokens(q)
    assert plan.is_empty
    assert plan.token is None
    assert plan.required_tokens == ()
    assert matches(plan, ["anything at all"])


def test_overlong_query_raises_value_error() -> None:
    with pytest.raises(ValueError, match="too long"):
        query_tokens("가" * (MAX_QUERY_CHARS + 1))
    assert query_tokens("a" * MAX_QUERY_CHARS).token == "a" * MAX_PREFIX_LEN


# --- consistency between the Firestore token and the post-filter ----------------------------------------------


@pytest.mark.parametrize(
    ("doc", "q"),
    [
        (CLOY, "사랑"),
        (CLOY, "윤세리와 북한"),
        (CLOY_EN, "crash land"),
        (ITAEWON, "이태원 class"),
        (CAFE, "CAFÉ"),
        (("It's Okay to Not Be Okay", "", "", []), "its okay"),
    ],
)
def test_every_required_token_is_in_matching_document(doc: tuple[str, str, str, list[str]], q: str) -> None:
    title, series, description, tags = doc
    plan = query_tokens(q)
    assert matches(plan, [title, series, description, *tags])
    toks = set(document_tokens(title, series, description, tags))
    assert set(plan.required_tokens) <= toks


# --- series_key ------------------------------------------------------------------------------------------------


def test_series_key_stable_across_case_spacing_and_punctuation() -> None:
    k = series_key("Crash Landing on You")
    assert k == series_key("crash landing on you") == series_key("  CRASH  Landing, on You! ")
    assert k.startswith("crash-landing-on-you-")
    assert series_key("Café Minamdang") == series_key("cafe minamdang")
    assert series_key("Goblin") != series_key("Goblins")


def test_series_key_keeps_hangul_readable() -> None:
    k = series_key("사랑의 불시착")
    assert k.startswith("사랑의-불시착-")
    assert k == series_key("사랑의  불시착")


@pytest.mark.parametrize("name", ["a/b", "/", ".", "..", "__x__", "...", "가" * 2000, "x" * 5000, "AC/DC: Live"])
def test_series_key_is_safe_firestore_id(name: str) -> None:
    k = series_key(name)
    assert "/" not in k
    assert k not in (".", "..")
    assert not (k.startswith("__") and k.endswith("__"))
    assert 0 < len(k.encode("utf-8")) <= 1500
    assert k == series_key(name)


def test_series_key_distinguishes_punctuation_only_names_and_rejects_empty() -> None:
    assert series_key("!!!") != series_key("???")
    with pytest.raises(ValueError):
        series_key("   ")
