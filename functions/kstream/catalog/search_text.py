"""Korean-aware search tokens for Firestore (which has no full-text search).

Scheme. Text is ``normalize``d (NFKC, casefold, Latin diacritics stripped, Hangul kept as composed syllables,
punctuation/whitespace collapsed to one space), split on spaces into words, and each word into *script runs*:
an n-gram run (Hangul, Han, Kana: scripts written without reliable word breaks or with attached particles) or
a word run (everything else: Latin, digits, other alphabets). "이태원클라쓰2" -> "이태원클라쓰" (n-gram), "2" (word).

* Word run ``w``: its prefixes of length 2..20 (``w[:2]`` .. ``w[:20]``); a one-character run is kept whole.
  So "crash" -> cr, cra, cras, crash. Queries match words by *prefix* only ("cra" hits "crash", "rash" does not);
  a one-character query word ("c") matches only the whole word "c", never every word starting with c.
* N-gram run ``r``: every syllable and every adjacent syllable pair. "사랑의" -> 사, 랑, 의, 사랑, 랑의.
  A Hangul query matches as a *substring* of a run, so particles don't get in the way ("사랑" hits "사랑의",
  "불시" hits "불시착", the infix "랑의" hits too); a query of any length needs only one of its bigrams from
  Firestore, the rest is verified in memory. (Hangul word prefixes of 1-2 syllables *are* these uni/bigrams;
  longer prefix tokens would add no recall and would break infix matching, so none are stored.)

Document tokens are unmarked (no field prefix), deduplicated, emitted in priority order title, series, tags,
description, and cut at ``MAX_DOC_TOKENS`` (400), so a long description loses its tail, never the title.
Ranking needs no markers: Firestore only filters, ``rank`` recomputes the tier from the document's own text.

A query becomes a ``QueryPlan``: ONE token for ``array_contains`` (Firestore allows a single array-contains
per query and array-contains-any is OR, not AND), chosen as the most selective token any match must carry; all
query words are then enforced in memory by ``matches`` (AND), and ``rank`` orders the survivors.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_DOC_TOKENS",
    "MAX_PREFIX_LEN",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TOKENS",
    "MIN_PREFIX_LEN",
    "RANK_DESCRIPTION",
    "RANK_EXACT_TITLE",
    "RANK_MIXED",
    "RANK_NONE",
    "RANK_SERIES",
    "RANK_TITLE_CONTAINS",
    "RANK_TITLE_PREFIX",
    "DocumentText",
    "QueryPlan",
    "Term",
    "document_tokens",
    "matches",
    "normalize",
    "query_tokens",
    "rank",
    "series_key",
]

MAX_DOC_TOKENS = 400
"""At most this many tokens per document (~8 KB worst case; far below Firestore's 1 MiB and index limits)."""
MIN_PREFIX_LEN = 2
"""Shortest stored prefix of a word run longer than one character."""
MAX_PREFIX_LEN = 20
"""Longest stored prefix; longer query words are filtered on their 20-character prefix, then checked in memory."""
MAX_QUERY_CHARS = 200
"""Longer queries raise ValueError (same bound as SearchVideosQuery.q)."""
MAX_QUERY_TOKENS = 30
"""``QueryPlan.required_tokens`` is capped at this (Firestore's limit for array-contains-any / in values)."""

# Rank tiers (higher is better). A document gets the first tier that applies.
RANK_EXACT_TITLE = 600  # normalized title == normalized query
RANK_TITLE_PREFIX = 500  # normalized title starts with the normalized query (and every word matches the title)
RANK_TITLE_CONTAINS = 400  # every query word matches the title somewhere
RANK_SERIES = 300  # every query word matches the series name
RANK_DESCRIPTION = 200  # every query word matches the description
RANK_MIXED = 100  # every query word matches title + series + description taken together
RANK_NONE = 0  # no text hit in those three fields (or the plan is empty: no text filter)

_APOSTROPHES = frozenset("'\u2019\u2018\u02bc\u0060\u00b4")  # dropped, so "It's" == "its"
_LATIN_FOLD = {  # Latin letters with no canonical decomposition (after casefold)
    "ø": "o",
    "đ": "d",
    "ð": "d",
    "ł": "l",
    "ħ": "h",
    "ŧ": "t",
    "ı": "i",
    "æ": "ae",
    "œ": "oe",
    "þ": "th",
}
# Particles and endings that make a Hangul bigram less selective when picking the Firestore token.
_COMMON_SYLLABLES = frozenset("의이가은는을를에와과도로으서고다한하들지게요")


def _is_ngram_char(ch: str) -> bool:
    cp = ord(ch)
    return (
        0xAC00 <= cp <= 0xD7A3  # Hangul syllables
        or 0x1100 <= cp <= 0x11FF  # Hangul jamo
        or 0x3130 <= cp <= 0x318F  # Hangul compatibility jamo
        or 0xA960 <= cp <= 0xA97F  # Hangul jamo extended-A
        or 0xD7B0 <= cp <= 0xD7FF  # Hangul jamo extended-B
        or 0x3040 <= cp <= 0x30FF  # Hiragana, Katakana
        or 0x3400 <= cp <= 0x4DBF  # CJK extension A
        or 0x4E00 <= cp <= 0x9FFF  # CJK unified ideographs
        or 0xF900 <= cp <= 0xFAFF  # CJK compatibility ideographs
    )


def _is_latin(ch: str) -> bool:
    if ch.isascii():
        return ch.isalpha()
    return unicodedata.name(ch, "").startswith("LATIN")


def normalize(text: str | None) -> str:
    """NFKC + casefold; Latin diacritics stripped (é->e, ø->o); Hangul stays composed syllables; apostrophes dropped;
    any run of whitespace, punctuation, symbols or control characters becomes one space; trimmed.

    >>> normalize("  Café   MINAMDANG!! ")
    'cafe minamdang'
    """
    if not text:
        return ""
    s = unicodedata.normalize("NFKC", text).casefold()
    out: list[str] = []
    prev_latin = False
    for ch in s:
        if ch in _APOSTROPHES:
            continue
        cat = unicodedata.category(ch)
        major = cat[0]
        if major == "M":  # a combining mark NFKC could not compose
            if not prev_latin:
                out.append(ch)  # a mark of another script is part of its word
            continue
        if major in "LN":
            if _is_latin(ch):
                folded = _LATIN_FOLD.get(ch)
                if folded is None:
                    # Decompose this one Latin character only: Hangul is never passed through NFD.
                    folded = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
                out.append(folded)
                prev_latin = True
            else:
                out.append(ch)
                prev_latin = False
            continue
        if cat != "Cf":  # format characters (soft hyphen, zero-width joiner) vanish; the rest separates
            out.append(" ")
        prev_latin = False
    return " ".join("".join(out).split())


@dataclass(frozen=True, slots=True)
class Term:
    """One query word (script run) after normalization. ``ngram`` runs match as substrings, others as prefixes."""

    text: str
    ngram: bool


def _runs(text: str) -> Iterator[Term]:
    """Split normalized text into script runs; combining marks stay with the run they follow."""
    for word in text.split():
        start = 0
        kind: bool | None = None
        for i, ch in enumerate(word):
            if unicodedata.category(ch)[0] == "M" and kind is not None:
                continue
            k = _is_ngram_char(ch)
            if kind is None:
                kind = k
            elif k != kind:
                yield Term(word[start:i], kind)
                start, kind = i, k
        if kind is not None:
            yield Term(word[start:], kind)


def _run_tokens(term: Term) -> Iterator[str]:
    t = term.text
    if term.ngram:
        for i in range(len(t)):
            yield t[i]
            if i + 1 < len(t):
                yield t[i : i + 2]
    elif len(t) == 1:
        yield t
    else:
        for n in range(MIN_PREFIX_LEN, min(len(t), MAX_PREFIX_LEN) + 1):
            yield t[:n]


def document_tokens(title: str, series: str, description: str, tags: Iterable[str] = ()) -> list[str]:
    """The index tokens for a video document: deduplicated, at most ``MAX_DOC_TOKENS``, in priority order
    title, series, tags, description (within a field: word order, shorter prefixes first), so trimming
    drops the end of the description first."""
    fields = [title or "", series or "", *(t for t in (tags or ()) if t), description or ""]
    seen: set[str] = set()
    out: list[str] = []
    seen_terms: set[Term] = set()
    for field in fields:
        for term in _runs(normalize(field)):
            if term in seen_terms:
                continue
            seen_terms.add(term)
            for tok in _run_tokens(term):
                if tok not in seen:
                    seen.add(tok)
                    out.append(tok)
                    if len(out) >= MAX_DOC_TOKENS:
                        return out
    return out


def _term_token(term: Term) -> tuple[str, float]:
    """The best Firestore token for one query term, with a selectivity score (higher = fewer documents)."""
    t = term.text
    if not term.ngram:
        if len(t) == 1:
            return t, 1.0
        tok = t[:MAX_PREFIX_LEN]
        return tok, float(len(tok))
    if len(t) == 1:
        return t, 2.0 - (1.0 if t in _COMMON_SYLLABLES else 0.0)
    best, best_score = "", -1.0
    for i in range(len(t) - 1):
        bg = t[i : i + 2]
        score = 5.0 - sum(1.0 for c in bg if c in _COMMON_SYLLABLES)
        if score > best_score:
            best, best_score = bg, score
    return best, best_score


def _term_required_tokens(term: Term) -> list[str]:
    """Every index token a document matching ``term`` is guaranteed to carry."""
    t = term.text
    if not term.ngram:
        return [t] if len(t) == 1 else [t[:n] for n in range(MIN_PREFIX_LEN, min(len(t), MAX_PREFIX_LEN) + 1)]
    return list(dict.fromkeys([*t, *(t[i : i + 2] for i in range(len(t) - 1))]))


@dataclass(frozen=True, slots=True)
class QueryPlan:
    """What a search query needs.

    ``token``: filter ``array_contains`` on the document's token array with it (None: no text filter).
    ``required_tokens``: tokens every match carries (≤ 30, most selective first, ``token`` first); they are AND
    conditions, so do NOT pass them to ``array_contains_any`` (OR) - they are informational / for tests.
    ``terms`` / ``normalized``: what ``matches`` and ``rank`` use.
    """

    raw: str
    normalized: str
    terms: tuple[Term, ...]
    token: str | None
    required_tokens: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return not self.terms


def query_tokens(q: str | None) -> QueryPlan:
    """Plan a text search. Empty, whitespace- or punctuation-only ``q`` gives an empty plan (no text filter).

    Raises ValueError when ``q`` is longer than ``MAX_QUERY_CHARS`` characters.
    """
    raw = q or ""
    if len(raw) > MAX_QUERY_CHARS:
        raise ValueError(f"search query is too long: {len(raw)} characters (at most {MAX_QUERY_CHARS} allowed)")
    norm = normalize(raw)
    terms = tuple(dict.fromkeys(_runs(norm)))
    if not terms:
        return QueryPlan(raw=raw, normalized="", terms=(), token=None, required_tokens=())
    scored: dict[str, float] = {}
    for term in terms:
        tok, score = _term_token(term)
        scored[tok] = max(score, scored.get(tok, -1.0))
    # Highest score wins; ties go to the earliest term (dicts keep insertion order, max keeps the first maximum).
    token = max(scored, key=lambda k: scored[k])
    by_score = sorted(scored, key=lambda k: -scored[k])  # stable: equal scores keep query order
    required = dict.fromkeys([token, *by_score, *(x for t in terms for x in _term_required_tokens(t))])
    return QueryPlan(
        raw=raw,
        normalized=norm,
        terms=terms,
        token=token,
        required_tokens=tuple(required)[:MAX_QUERY_TOKENS],
    )


class _Index:
    """The normalized runs of some text, for in-memory matching (``normalized``: the texts already are)."""

    __slots__ = ("ngrams", "words")

    def __init__(self, texts: Iterable[str], *, normalized: bool = False) -> None:
        self.words: set[str] = set()
        self.ngrams: set[str] = set()
        for text in texts:
            for term in _runs(text if normalized else normalize(text)):
                (self.ngrams if term.ngram else self.words).add(term.text)

    def has(self, term: Term) -> bool:
        t = term.text
        if term.ngram:
            return any(t in r for r in self.ngrams)
        if len(t) == 1:
            return t in self.words
        return any(w.startswith(t) for w in self.words)

    def has_all(self, terms: Iterable[Term]) -> bool:
        return all(self.has(t) for t in terms)


def _in_any(indexes: Sequence[_Index], terms: Iterable[Term]) -> bool:
    """Every term in one of ``indexes`` at least: the same as one index over all their texts."""
    return all(any(index.has(t) for index in indexes) for t in terms)


class DocumentText:
    """One document's searchable fields, each normalized and indexed once, so that the post-filter
    (:meth:`matches`, over title, series, description and tags) and the ranking (:meth:`rank`) of the same document
    share the work. ``title_normalized`` / ``series_normalized``: the stored ``normalize`` of those fields
    (``titleSort``, ``seriesSort``), when the caller has them."""

    __slots__ = ("description", "series", "tags", "title", "title_text")

    def __init__(self, title: str, series: str, description: str, tags: Iterable[str] = (), *,
                 title_normalized: str | None = None, series_normalized: str | None = None) -> None:
        self.title_text = normalize(title) if title_normalized is None else title_normalized
        self.title = _Index((self.title_text,), normalized=True)
        self.series = _Index((normalize(series) if series_normalized is None else series_normalized,),
                             normalized=True)
        self.description = _Index((description,))
        self.tags = _Index(t for t in tags if t)

    def matches(self, plan: QueryPlan) -> bool:
        """:func:`matches` over title, series, description and tags."""
        return plan.is_empty or _in_any((self.title, self.series, self.description, self.tags), plan.terms)

    def rank(self, plan: QueryPlan) -> int:
        """:func:`rank` of this document."""
        if plan.is_empty:
            return RANK_NONE
        if self.title.has_all(plan.terms):
            if self.title_text == plan.normalized:
                return RANK_EXACT_TITLE
            if self.title_text.startswith(plan.normalized):
                return RANK_TITLE_PREFIX
            return RANK_TITLE_CONTAINS
        if self.series.has_all(plan.terms):
            return RANK_SERIES
        if self.description.has_all(plan.terms):
            return RANK_DESCRIPTION
        if _in_any((self.title, self.series, self.description), plan.terms):
            return RANK_MIXED
        return RANK_NONE


def matches(plan: QueryPlan, doc_text_fields: Iterable[str] | str) -> bool:
    """Post-filter: True when EVERY query term occurs somewhere in the given fields (title, series, description,
    tags...): word runs as a word prefix (one-character words: whole word), Hangul/CJK runs as a substring.
    An empty plan matches everything."""
    if plan.is_empty:
        return True
    if isinstance(doc_text_fields, str):
        doc_text_fields = (doc_text_fields,)
    return _Index(f for f in doc_text_fields if f).has_all(plan.terms)


def rank(plan: QueryPlan, title: str, series: str, description: str) -> int:
    """Relevance tier, higher is better (see the RANK_* constants):
    exact title 600 > title prefix 500 > all words in title 400 > all in series 300 > all in description 200 >
    words spread over those fields 100 > 0 (no hit in them, e.g. matched only via a tag, or empty plan).
    Pure function of its inputs; ties are left to the caller's stable sort (e.g. by title, then id)."""
    return DocumentText(title, series or "", description or "").rank(plan)


_SLUG_MAX_CHARS = 64


def series_key(name: str) -> str:
    """A stable Firestore document id for a series name: ``<slug>-<10 hex of sha256(normalized name)>``.

    Names equal after ``normalize`` (case, accents, punctuation, spacing) share a key; Hangul stays readable
    ("사랑의 불시착" -> "사랑의-불시착-…"). The slug holds only letters, digits, marks and '-', at most 64
    characters (≤ 256 bytes), so the id never contains '/', is never '.', '..' or '__x__', and is far below
    Firestore's 1500-byte limit. Raises ValueError for an empty name.
    """
    if not name or not name.strip():
        raise ValueError("series name must not be empty")
    norm = normalize(name)
    # A name of only punctuation/symbols normalizes to "": hash its NFKC form so distinct such names stay distinct.
    basis = norm or unicodedata.normalize("NFKC", name).strip()
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:10]
    slug = norm.replace(" ", "-")[:_SLUG_MAX_CHARS].strip("-")
    return f"{slug}-{digest}" if slug else f"series-{digest}"
