"""SAMI (.smi) -> cues of one language, read by pycaption's SAMIReader.

A Korean fansub .smi is often one file with a class per language, declared in <STYLE>
(`.KRCC { Name:Korean; lang:ko-KR; }`) and used as `<SYNC Start=ms><P Class=KRCC>text`. pycaption groups the <P>
elements by their class's `lang`, ends a cue at the next <SYNC> of the same language (so '&nbsp;' lines end cues),
turns <br> into line breaks, keeps <i>/<b>/<u> and drops <font>. On top of it this module:
- picks the class asked for (same primary subtag, an exact tag first; `kr`/`jp`/`cn`, the country codes often
  written instead of ko/ja/zh, count as those languages); a file with one language needs no choice;
- refuses a file whose several classes declare no `lang` (pycaption would merge them into one track);
- names the line of a bad `Start=` (pycaption quotes the element only);
- removes colour declarations from <STYLE> first (one pycaption cannot read would refuse the whole file).
"""

from __future__ import annotations

import logging
import re

import langcodes
from pycaption import CaptionNode, SAMIReader
from pycaption.exceptions import CaptionReadError, CaptionReadNoCaptions, CaptionReadTimingError

from . import cue_text
from .model import Cue, SubtitleInvalid

logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)  # cssutils logs every non-CSS SAMI property (Name, lang)

_UNDETERMINED = "und"
_COUNTRY_NOT_LANGUAGE = {"kr": "ko", "jp": "ja", "cn": "zh"}


def _primary(tag: str) -> str:
    primary = tag.replace("_", "-").split("-")[0].lower()
    primary = _COUNTRY_NOT_LANGUAGE.get(primary, primary)
    try:
        return langcodes.standardize_tag(primary)
    except (ValueError, langcodes.LanguageTagError):
        return primary


def _line_of(text: str, needle: str) -> int | None:
    index = text.lower().find(needle.lower())
    return text.count("\n", 0, index) + 1 if index >= 0 else None


def _spans(nodes: list[CaptionNode]) -> list[cue_text.Span]:
    spans: list[cue_text.Span] = []
    depth = {"bold": 0, "italics": 0, "underline": 0}
    for node in nodes:
        if node.type_ == CaptionNode.TEXT:
            spans.append(cue_text.Span(node.content, depth["bold"] > 0, depth["italics"] > 0, depth["underline"] > 0))
        elif node.type_ == CaptionNode.BREAK:
            spans.append(cue_text.Span("\n"))
        elif node.type_ == CaptionNode.STYLE and isinstance(node.content, dict):
            for key in depth:
                if node.content.get(key):
                    depth[key] = max(0, depth[key] + (1 if node.start else -1))
    return spans


def _choose(languages: list[str], language: str | None, *, file_name: str) -> str:
    declared = [lang for lang in languages if lang != _UNDETERMINED]
    if language is None:
        if len(languages) == 1:
            return languages[0]
        raise SubtitleInvalid(
            f"{file_name} holds several languages ({', '.join(declared)}): say which one to use",
            file_name=file_name, field="language", languages=declared,
        )
    exact = [lang for lang in declared if lang.lower() == language.lower()]
    if exact:
        return exact[0]
    same_primary = [lang for lang in declared if _primary(lang) == _primary(language)]
    if len(same_primary) == 1:
        return same_primary[0]
    if not declared and len(languages) == 1:
        return languages[0]  # one class, no lang declared: it is whatever the uploader says
    if same_primary:
        raise SubtitleInvalid(
            f"{file_name} holds several variants of {language} ({', '.join(same_primary)}): name one exactly",
            file_name=file_name, field="language", languages=declared,
        )
    raise SubtitleInvalid(
        f"{file_name} has no {language} subtitles; it holds {', '.join(declared) or 'no declared language'}",
        file_name=file_name, field="language", languages=declared,
    )


_STYLE_BLOCK = re.compile(r"<style[^>]*>.*?</style>", re.IGNORECASE | re.DOTALL)
_COLOR_DECLARATION = re.compile(r"(?<![\w-])(?:background-)?color\s*:\s*[^;}]*;?", re.IGNORECASE)


def _without_colours(text: str) -> str:
    """The file with colour declarations removed from <STYLE>: WebVTT output drops colours anyway, and pycaption
    refuses the whole file over one it cannot read ('color:ffffff', without '#', is common in Korean .smi files)."""
    return _STYLE_BLOCK.sub(lambda block: _COLOR_DECLARATION.sub("", block.group(0)), text)


def parse_sami(text: str, *, file_name: str, language: str | None) -> tuple[list[Cue], tuple[str, ...]]:
    """(cues of the chosen language, languages the file declares)."""
    try:
        caption_set = SAMIReader().read(_without_colours(text))
    except CaptionReadNoCaptions as exc:
        raise SubtitleInvalid(f"{file_name} has no cue", file_name=file_name) from exc
    except CaptionReadTimingError as exc:
        value = re.search(r"start time '([^']*)'", str(exc))
        line = _line_of(text, f"start={value.group(1)}") if value else None
        where = f" line {line}" if line else ""
        raise SubtitleInvalid(
            f"{file_name}{where}: malformed SAMI <SYNC Start=...> ({str(exc).split(' on the following')[0]})",
            file_name=file_name, line=line,
        ) from exc
    # TypeError: cssutils on broken CSS in <STYLE>; the others: pycaption on markup it did not expect
    except (CaptionReadError, ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        detail = exc.args[0] if exc.args else type(exc).__name__
        raise SubtitleInvalid(f"{file_name} is not a valid SAMI file: {detail}", file_name=file_name) from exc

    languages = sorted(caption_set.get_languages())  # pycaption keeps them in a set: sort for stable messages
    if _UNDETERMINED in languages:
        classes = sorted({(c.style or {}).get("class", "") for c in caption_set.get_captions(_UNDETERMINED)})
        if len(classes) > 1:
            raise SubtitleInvalid(
                f"{file_name}: SAMI classes {', '.join(c.upper() for c in classes if c) or '(none)'} declare no"
                " lang in <STYLE>, so their languages cannot be told apart",
                file_name=file_name,
            )
    chosen = _choose(languages, language, file_name=file_name)
    cues = []
    for caption in caption_set.get_captions(chosen):
        payload = cue_text.render(_spans(caption.nodes))
        if payload:
            cues.append(Cue(caption.start / 1_000_000, caption.end / 1_000_000, payload))
    return cues, tuple(lang for lang in languages if lang != _UNDETERMINED)
