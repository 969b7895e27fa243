"""Unit: uploaded subtitle bytes -> cues, for every format and encoding uploaders use, and every refusal."""

from __future__ import annotations

import codecs
import random

import pytest
from kstream.errors import ErrorCode, RequestInvalid
from kstream.subtitles import (
    END_TOLERANCE_SECONDS,
    MAX_SUBTITLE_BYTES,
    ParsedSubtitle,
    SubtitleInvalid,
    check_against_duration,
    parse_subtitle,
)

from tests import subtitle_samples as samples


def texts(parsed: ParsedSubtitle) -> list[str]:
    return [cue.text for cue in parsed.cues]


def refusal(data: bytes, file_name: str, **kwargs) -> SubtitleInvalid:
    with pytest.raises(SubtitleInvalid) as caught:
        parse_subtitle(data, file_name=file_name, **kwargs)
    return caught.value


# --- formats ---


def test_english_srt_keeps_times_tags_and_escapes_text():
    parsed = parse_subtitle(samples.english_srt(), file_name="ep3.en.srt")
    assert (parsed.source_format, parsed.encoding, parsed.languages) == ("srt", "utf-8", ())
    assert [(c.start, c.end) for c in parsed.cues][:3] == [(1.0, 3.5), (4.0, 6.0), (6.5, 9.0)]
    assert texts(parsed)[0] == samples.ENGLISH_LINE
    assert texts(parsed)[1] == "<i>I stayed late</i> at the office."
    assert texts(parsed)[2] == "Tom &amp; Jerry said 3 &lt; 4.\nNot <b>me</b>."
    assert len(parsed.cues) == 6


def test_ass_override_tags_reduce_to_italic_bold_underline_and_drawings_and_comments_are_dropped():
    parsed = parse_subtitle(samples.styled_ass(), file_name="ep3.ass")
    assert parsed.source_format == "ass"
    assert texts(parsed) == [
        "Where were you <i>last</i> night?",  # {\pos} dropped, {\i1}{\i0} kept
        "<i>I stayed late.</i>\n<i>At the <b>office</b>.</i>",  # italic style 'Thought', \N line break, {\b1}
        "<u>Don't</u> lie\u00a0to me &amp; &lt;you&gt;.",  # \fs and \c dropped, \h a no-break space, text escaped
        samples.KOREAN_LINE,  # {\an8} dropped
    ]
    assert all("{" not in t and "m 0 0" not in t and "translator" not in t for t in texts(parsed))


def test_ssa_v4_file_is_read_as_ssa():
    ssa = samples.styled_ass().decode().replace("[V4+ Styles]", "[V4 Styles]").replace("v4.00+", "v4.00")
    parsed = parse_subtitle(ssa.encode(), file_name="old.ssa")
    assert parsed.source_format == "ssa"
    assert texts(parsed)[0] == "Where were you <i>last</i> night?"


def test_webvtt_with_bom_settings_notes_styles_and_short_times():
    parsed = parse_subtitle(samples.webvtt_with_bom(), file_name="ep3.vtt")
    assert (parsed.source_format, parsed.encoding) == ("vtt", "utf-8-sig")
    assert [(c.start, c.end) for c in parsed.cues] == [(1.0, 3.5), (4.0, 6.0), (6.5, 8.0)]
    assert texts(parsed) == [
        "Where were you <i>last</i> night?",  # <v Ji-woo> dropped, settings dropped
        "At the office &amp; you know it &lt;3",  # <c.yellow> dropped; &amp; decoded and escaped once
        f"<b>Don't</b> <u>lie</u> to me.\n{samples.KOREAN_LINE}",
    ]


def test_webvtt_ruby_text_and_unknown_tags_are_dropped_but_base_text_kept():
    vtt = "WEBVTT\n\n00:01.000 --> 00:02.000\n<ruby>漢<rt>kan</rt></ruby>字 <lang ko>안녕</lang> <00:01.500>next\n"
    assert texts(parse_subtitle(vtt.encode(), file_name="r.vtt")) == ["漢字 안녕 next"]


def test_format_comes_from_the_content_not_the_extension():
    parsed = parse_subtitle(samples.webvtt_with_bom(), file_name="mislabelled.srt")
    assert parsed.source_format == "vtt"
    parsed = parse_subtitle(samples.english_srt(), file_name="subs.txt")
    assert parsed.source_format == "srt"


# --- encodings ---


def test_korean_srt_in_cp949():
    parsed = parse_subtitle(samples.korean_srt_cp949(), file_name="ep3.ko.srt")
    assert (parsed.source_format, parsed.encoding) == ("srt", "cp949")
    assert texts(parsed)[0] == samples.KOREAN_LINE
    assert texts(parsed)[1] == "회사에\n늦게까지 있었어."


def test_a_two_cue_korean_srt_in_cp949_is_not_mistaken_for_big5():
    # charset-normalizer alone guesses Big5 for so little text; Hangul decides for CP949
    data = "1\n00:00:01,000 --> 00:00:02,000\n안녕\n\n2\n00:00:03,000 --> 00:00:04,000\n잘 가\n".encode("cp949")
    parsed = parse_subtitle(data, file_name="short.srt")
    assert parsed.encoding == "cp949"
    assert texts(parsed) == ["안녕", "잘 가"]


def test_euc_kr_file_reads_as_cp949():
    data = samples.korean_srt_cp949().decode("cp949").encode("euc-kr")
    assert parse_subtitle(data, file_name="euc.srt").encoding == "cp949"


@pytest.mark.parametrize(
    ("big_endian", "bom", "encoding"),
    [(False, True, "utf-16-le"), (True, True, "utf-16-be"), (False, False, "utf-16-le"), (True, False, "utf-16-be")],
)
def test_utf16_srt_with_and_without_bom(big_endian, bom, encoding):
    parsed = parse_subtitle(samples.utf16_srt(big_endian=big_endian, bom=bom), file_name="u16.srt")
    assert parsed.encoding == encoding
    assert texts(parsed)[0] == samples.KOREAN_LINE
    assert texts(parsed)[-1] == samples.ENGLISH_LINE


def test_utf8_with_bom_srt():
    parsed = parse_subtitle(codecs.BOM_UTF8 + samples.english_srt(), file_name="bom.srt")
    assert parsed.encoding == "utf-8-sig"
    assert texts(parsed)[0] == samples.ENGLISH_LINE


def test_latin_text_in_cp1252():
    text = "1\n00:00:01,000 --> 00:00:03,000\nÀ la carte, café crème, déjà vu… «naïve» — Ça va?\n"
    parsed = parse_subtitle(text.encode("cp1252"), file_name="fr.srt")
    assert parsed.encoding == "cp1252"
    assert texts(parsed) == ["À la carte, café crème, déjà vu… «naïve» — Ça va?"]


# --- SAMI ---


@pytest.mark.parametrize("language", ["ko", "ko-KR", "KO", "kor"])
def test_sami_picks_the_korean_class(language):
    parsed = parse_subtitle(samples.korean_english_sami_cp949(), file_name="ep3.smi", language=language)
    assert (parsed.source_format, parsed.encoding) == ("smi", "cp949")
    assert parsed.languages == ("en-US", "ko-KR")
    assert texts(parsed)[0] == samples.KOREAN_LINE
    assert texts(parsed)[1] == "회사에\n늦게까지 있었어."  # <br> a line break, <font color> dropped
    # '&nbsp;' lines end cues: each cue ends where the file blanks it, not at the next cue
    assert [(c.start, c.end) for c in parsed.cues][:2] == [(1.0, 3.5), (4.0, 6.5)]
    assert len(parsed.cues) == 6


def test_sami_picks_the_english_class():
    parsed = parse_subtitle(samples.korean_english_sami_cp949(), file_name="ep3.smi", language="en")
    assert texts(parsed)[0] == samples.ENGLISH_LINE
    assert texts(parsed)[1] == "I stayed late\nat the office."
    assert all(not any("\uac00" <= ch <= "\ud7a3" for ch in t) for t in texts(parsed))


def test_sami_with_one_class_needs_no_language_and_ignores_a_different_asked_one_only_if_undeclared():
    one = samples.korean_english_sami_cp949(classes={"KRCC": "ko-KR"})
    assert texts(parse_subtitle(one, file_name="ko.smi"))[0] == samples.KOREAN_LINE
    assert texts(parse_subtitle(one, file_name="ko.smi", language="ko"))[0] == samples.KOREAN_LINE
    error = refusal(one, "ko.smi", language="en")  # the file says it is Korean
    assert "ko.smi has no en subtitles" in error.message
    assert "ko-KR" in error.message


def test_sami_without_a_style_block_is_one_undeclared_track():
    smi = "<SAMI><BODY>\n<SYNC Start=1000><P Class=KRCC>안녕\n<SYNC Start=2000><P Class=KRCC>&nbsp;\n</BODY></SAMI>"
    parsed = parse_subtitle(smi.encode("cp949"), file_name="bare.smi", language="ko")
    assert texts(parsed) == ["안녕"]
    assert parsed.languages == ()


def test_sami_asked_language_absent_names_the_languages_present():
    error = refusal(samples.korean_english_sami_cp949(), "ep3.smi", language="ja")
    assert error.details["field"] == "language"
    assert error.details["languages"] == ["en-US", "ko-KR"]
    assert "ep3.smi has no ja subtitles" in error.message
    assert "ko-KR" in error.message and "en-US" in error.message


def test_sami_with_several_languages_and_none_asked_is_refused():
    error = refusal(samples.korean_english_sami_cp949(), "ep3.smi")
    assert "say which one" in error.message
    assert error.details["field"] == "language"


def test_sami_classes_without_lang_cannot_be_told_apart():
    smi = (
        "<SAMI><BODY>\n<SYNC Start=1000><P Class=KRCC>안녕\n<SYNC Start=1000><P Class=ENCC>Hello\n"
        "<SYNC Start=2000><P Class=KRCC>&nbsp;\n<SYNC Start=2000><P Class=ENCC>&nbsp;\n</BODY></SAMI>"
    )
    error = refusal(smi.encode("utf-8"), "mixed.smi", language="ko")
    assert "ENCC, KRCC declare no lang" in error.message


def test_a_file_whose_cues_all_have_no_duration_has_no_cue():
    srt = "1\n00:00:02,000 --> 00:00:02,000\nzero\n\n2\n00:00:05,000 --> 00:00:04,000\nbackwards\n"
    error = refusal(srt.encode(), "zero.srt")
    assert error.message == "zero.srt has no cue that lasts (2 cues end when or before they start)"


def test_sami_bad_start_names_its_line():
    smi = samples.korean_english_sami_cp949().decode("cp949").replace("Start=4000>", "Start=4x00>", 1)
    line = smi.splitlines().index(next(ln for ln in smi.splitlines() if "Start=4x00" in ln)) + 1
    error = refusal(smi.encode("cp949"), "bad.smi", language="ko")
    assert error.line == line
    assert f"bad.smi line {line}" in error.message


# --- refusals ---


def test_refusals_are_request_invalid_400():
    error = refusal(samples.empty(), "empty.srt")
    assert isinstance(error, RequestInvalid)
    assert (error.code, error.status) == (ErrorCode.REQUEST_INVALID, 400)
    assert error.details == {"field": "file", "file": "empty.srt", "line": None}
    assert error.message == "empty.srt is empty"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"\xef\xbb\xbf \r\n", "blank.srt", "blank.srt is empty"),
        (samples.mp4_header(), "episode.mp4", "episode.mp4 is an MP4/QuickTime video, not a subtitle file"),
        (b"\x1a\x45\xdf\xa3" + bytes(200), "ep.mkv", "ep.mkv is a Matroska/WebM video, not a subtitle file"),
        (samples.json_document(), "subs.json", "subs.json is a JSON document, not a subtitle file"),
        (samples.random_text(), "notes.srt", "notes.srt is not a SubRip file: no cue timing found"),
        (samples.random_text(), "notes.txt", "notes.txt is not a subtitle file"),
        (samples.no_cues_vtt(), "empty.vtt", "empty.vtt has no cue"),
        (bytes(range(256)) * 8, "noise.srt", "noise.srt is a binary file, not a subtitle file"),
    ],
)
def test_not_a_subtitle_file(data, name, message):
    error = refusal(data, name)
    assert error.message.startswith(message)
    assert error.details["file"] == name


def test_malformed_srt_timestamp_names_the_line():
    error = refusal(samples.malformed_timestamp_srt(), "ep3.srt")
    assert error.line == samples.MALFORMED_TIMESTAMP_LINE == error.details["line"]
    assert error.message.startswith(f"ep3.srt line {samples.MALFORMED_TIMESTAMP_LINE}: malformed cue timing")
    assert "00:0x:06,000" in error.message


def test_srt_timing_with_a_single_dash_arrow_names_the_line():
    srt = samples.english_srt().decode().replace("00:00:04,000 --> 00:00:06,000", "00:00:04,000 -> 00:00:06,000")
    error = refusal(srt.encode(), "arrow.srt")
    assert error.line == 6  # 1 / timing / text / blank / 2 / timing


def test_malformed_vtt_timestamp_names_the_line():
    vtt = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nok\n\n00:00:0x.000 --> 00:00:03.000\nbad\n"
    error = refusal(vtt.encode(), "bad.vtt")
    assert error.line == 6
    assert "bad.vtt line 6" in error.message


def test_malformed_ass_time_names_the_line():
    ass = samples.styled_ass().decode().replace("0:00:04.00,0:00:06.00,Thought", "0:00:04.00,0:0x:06.00,Thought")
    line = next(i for i, ln in enumerate(ass.splitlines(), 1) if "0:0x:06.00" in ln)
    error = refusal(ass.encode(), "bad.ass")
    assert (error.line, error.message.split(":")[0]) == (line, f"bad.ass line {line}")
    assert "end time '0:0x:06.00'" in error.message


def test_over_the_size_limit():
    data = samples.oversized_srt()
    error = refusal(data, "huge.srt")
    assert error.details["size"] == len(data) > MAX_SUBTITLE_BYTES == error.details["limit"]
    assert "at most 2097152 bytes" in error.message


def test_exactly_at_the_size_limit_is_read():
    block = "1\n00:00:01,000 --> 00:00:02,000\nok\n"
    data = (block + " " * (MAX_SUBTITLE_BYTES - len(block))).encode()
    assert len(data) == MAX_SUBTITLE_BYTES
    assert texts(parse_subtitle(data, file_name="edge.srt")) == ["ok"]


def test_cues_past_the_video_end_are_refused_within_tolerance_accepted():
    parsed = parse_subtitle(samples.past_end_srt(60.0), file_name="late.srt")
    with pytest.raises(SubtitleInvalid) as caught:
        check_against_duration(parsed, 60.0, file_name="late.srt")
    assert "late.srt: 1 cue(s) end after the video" in caught.value.message
    assert caught.value.details["cue_end"] == 60.0 + samples.PAST_END_BY
    check_against_duration(parsed, 60.0 + samples.PAST_END_BY - END_TOLERANCE_SECONDS, file_name="late.srt")
    with pytest.raises(SubtitleInvalid):
        check_against_duration(parsed, 60.0 + samples.PAST_END_BY - END_TOLERANCE_SECONDS - 0.01, file_name="late.srt")


def test_sami_with_an_unreadable_style_colour_is_still_read():
    smi = samples.korean_english_sami_cp949().decode("cp949").replace("color:white;", "color:ffffff;")
    assert "color:ffffff" in smi
    parsed = parse_subtitle(smi.encode("cp949"), file_name="colour.smi", language="ko")
    assert texts(parsed)[0] == samples.KOREAN_LINE


def test_sami_without_any_sync_has_no_cue():
    error = refusal(b"<SAMI><HEAD><TITLE>x</TITLE></HEAD><BODY></BODY></SAMI>", "blank.smi")
    assert error.message == "blank.smi has no cue"


def test_sami_with_a_broken_style_block_is_refused_not_crashed():
    # cssutils raised TypeError on an '@' inside a property name (found by the mutation test below)
    smi = samples.korean_english_sami_cp949().decode("cp949").replace("font-weight:", "fo@t-weight:")
    error = refusal(smi.encode("cp949"), "broken.smi", language="ko")
    assert error.message.startswith("broken.smi is not a valid SAMI file")


MUTATIONS = [
    b"-->", b"\n\n", b"<", b"{", b"}", b"\\", b"<SYNC Start=", b"&", b"\x00", b"Dialogue: ", b"[Events]", b"WEBVTT",
]


def test_mangled_files_end_in_cues_or_a_refusal_never_a_traceback():
    rng = random.Random(20261203)
    bases = [
        (samples.english_srt(), "a.srt", None), (samples.korean_srt_cp949(), "k.srt", None),
        (samples.korean_english_sami_cp949(), "k.smi", "ko"), (samples.utf16_srt(), "u.srt", None),
        (samples.styled_ass(), "s.ass", None), (samples.webvtt_with_bom(), "w.vtt", None),
    ]
    outcomes = {"parsed": 0, "refused": 0}
    for _ in range(300):
        data, name, language = rng.choice(bases)
        mangled = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            pos, op = rng.randrange(len(mangled)), rng.random()
            if op < 0.4:
                mangled[pos] = rng.randrange(256)
            elif op < 0.6:
                del mangled[pos : pos + rng.randint(1, 40)]
            elif op < 0.8:
                mangled[pos:pos] = rng.choice(MUTATIONS)
            else:
                mangled[pos:pos] = mangled[rng.randrange(len(mangled)) :][:50]
        try:
            parsed = parse_subtitle(bytes(mangled), file_name=name, language=language)
        except SubtitleInvalid as error:
            assert error.details["file"] == name
            outcomes["refused"] += 1
        else:
            assert all(cue.text and "\n\n" not in cue.text and "-->" not in cue.text for cue in parsed.cues)
            outcomes["parsed"] += 1
    assert outcomes["parsed"] > 25 and outcomes["refused"] > 25, outcomes


def test_sami_country_codes_written_as_languages_and_exact_variants():
    smi = samples.korean_english_sami_cp949(classes={"KRCC": "kr", "ENCC": "en-US"})
    parsed = parse_subtitle(smi, file_name="kr.smi", language="ko")  # 'kr' (Kanuri) is how many files say Korean
    assert texts(parsed)[0] == samples.KOREAN_LINE
    both = samples.korean_english_sami_cp949(classes={"USCC": "en-US", "GBCC": "en-GB"})
    assert len(parse_subtitle(both, file_name="en.smi", language="en-GB").cues) == 6  # the exact tag wins
    error = refusal(both, "en.smi", language="en")
    assert "several variants of en (en-GB, en-US)" in error.message
