"""Subtitle files as uploaders really send them, generated in code (no binaries in the repo), for every level's tests.

Good files (each a function returning the file's bytes):
    english_srt()                 UTF-8 SubRip, <i>/<b> tags, '&' and '<' in text
    korean_srt_cp949()            SubRip in CP949 (how most older Korean .srt files are saved)
    korean_english_sami_cp949()   SAMI (.smi) in CP949 with two classes, KRCC (ko-KR) and ENCC (en-US)
    utf16_srt()                   SubRip in UTF-16 (LE or BE, with or without BOM)
    styled_ass()                  Advanced SubStation Alpha with styles, override tags, a drawing and a comment
    webvtt_with_bom()             WebVTT with a UTF-8 BOM, a header, STYLE and NOTE blocks, cue settings, short times
    long_track(cues, minutes)     a UTF-8 SubRip of `cues` evenly spread cues over `minutes`

Bad files:
    empty(), mp4_header(), json_document(), random_text(), no_cues_vtt(),
    malformed_timestamp_srt() (bad timing at line MALFORMED_TIMESTAMP_LINE),
    past_end_srt(duration_seconds) (last cue ends PAST_END_BY seconds after the video), oversized_srt() (> 2 MiB).

Every good sample carries ENGLISH_LINE or KOREAN_LINE (or both) in its first cue, so a test can look for it after
parsing, converting and segmenting.
"""

from __future__ import annotations

ENGLISH_LINE = "Where were you last night?"
KOREAN_LINE = "어젯밤에 어디 있었어?"

MALFORMED_TIMESTAMP_LINE = 7
PAST_END_BY = 30.0

_KOREAN_DIALOGUE = [
    KOREAN_LINE,
    "회사에 늦게까지 있었어.",
    "거짓말하지 마. 다 알고 있어.",
    "우리 얘기 좀 해.",
    "내일 아침에 다시 올게.",
    "괜찮아? 얼굴이 안 좋아 보여.",
]
_ENGLISH_DIALOGUE = [
    ENGLISH_LINE,
    "I stayed late at the office.",
    "Don't lie to me. I know everything.",
    "We need to talk.",
    "I'll come back tomorrow morning.",
    "Are you okay? You look pale.",
]


def _srt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _srt(cues: list[tuple[float, float, str]], newline: str = "\n") -> str:
    blocks = [f"{i}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n" for i, (start, end, text) in enumerate(cues, 1)]
    return "\n".join(blocks).replace("\n", newline)


def english_srt() -> bytes:
    """Six English cues (1 s to 19 s), UTF-8, CRLF line ends as Windows tools write them."""
    cues = [
        (1.0, 3.5, ENGLISH_LINE),
        (4.0, 6.0, "<i>I stayed late</i> at the office."),
        (6.5, 9.0, "Tom & Jerry said 3 < 4.\nNot <b>me</b>."),
        (9.5, 12.0, _ENGLISH_DIALOGUE[3]),
        (12.5, 15.0, _ENGLISH_DIALOGUE[4]),
        (15.5, 19.0, _ENGLISH_DIALOGUE[5]),
    ]
    return _srt(cues, newline="\r\n").encode("utf-8")


def korean_cues() -> list[tuple[float, float, str]]:
    """The Korean dialogue as (start, end, text): one cue every 3 s from 1 s, the second one on two lines."""
    cues = [(1.0 + 3 * i, 3.5 + 3 * i, line) for i, line in enumerate(_KOREAN_DIALOGUE)]
    cues[1] = (cues[1][0], cues[1][1], "회사에\n늦게까지 있었어.")
    return cues


def korean_srt_cp949() -> bytes:
    """Six Korean cues in CP949 (EUC-KR compatible), no BOM."""
    return _srt(korean_cues()).encode("cp949")


def utf16_srt(*, big_endian: bool = False, bom: bool = True) -> bytes:
    """The Korean cues plus an English one as SubRip in UTF-16."""
    cues = [*korean_cues(), (20.0, 22.0, ENGLISH_LINE)]
    codec = ("utf-16-be" if big_endian else "utf-16-le")
    mark = (b"\xfe\xff" if big_endian else b"\xff\xfe") if bom else b""
    return mark + _srt(cues).encode(codec)


SAMI_CLASSES = {"KRCC": "ko-KR", "ENCC": "en-US"}


def korean_english_sami_cp949(*, classes: dict[str, str] | None = None) -> bytes:
    """A Korean fansub-style SAMI file in CP949: one <SYNC> per class, '&nbsp;' lines ending cues, <br>, <font>.

    `classes` maps class name -> lang (default KRCC ko-KR and ENCC en-US); pass one class to get a single-language
    file. Korean text goes to classes whose lang starts with 'ko' (or 'kr', as many files write it), English text
    to the others.
    """
    classes = classes if classes is not None else SAMI_CLASSES

    def is_korean(lang: str) -> bool:
        return lang.lower().startswith(("ko", "kr"))

    style = "\n".join(
        f".{name} {{ Name:{'Korean' if is_korean(lang) else 'English'}; lang:{lang}; SAMIType:CC; }}"
        for name, lang in classes.items()
    )
    body: list[str] = []
    for i, (korean, english) in enumerate(zip(_KOREAN_DIALOGUE, _ENGLISH_DIALOGUE, strict=True)):
        start_ms, end_ms = 1000 + 3000 * i, 3500 + 3000 * i
        for name, lang in classes.items():
            text = korean if is_korean(lang) else english
            if i == 1:
                text = '<font color="#ffff00">회사에</font><br>늦게까지 있었어.' if is_korean(lang) else (
                    "I stayed late<br>at the office.")
            body.append(f"<SYNC Start={start_ms}><P Class={name}>{text}")
        for name in classes:
            body.append(f"<SYNC Start={end_ms}><P Class={name}>&nbsp;")
    text = (
        "<SAMI>\n<HEAD>\n<TITLE>사랑의 계절 3화</TITLE>\n<STYLE TYPE=\"text/css\">\n<!--\n"
        "P { margin-left:8pt; margin-right:8pt; margin-bottom:2pt; margin-top:2pt; text-align:center;"
        " font-size:20pt; font-family:굴림, Arial; font-weight:normal; color:white; }\n"
        f"{style}\n-->\n</STYLE>\n</HEAD>\n<BODY>\n" + "\n".join(body) + "\n</BODY>\n</SAMI>\n"
    )
    return text.replace("\n", "\r\n").encode("cp949")


_ASS_STYLE_FORMAT = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic,"
    " Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR,"
    " MarginV, Encoding"
)


def styled_ass() -> bytes:
    """An .ass file: two styles (one italic), {\\pos}/{\\i1}/{\\b1}/{\\u1}/{\\c} overrides, a drawing, a comment."""
    text = r"""[Script Info]
; Script generated by Aegisub
Title: 사랑의 계절 3화
ScriptType: v4.00+
PlayResX: 1920
PlayResY: 1080

[V4+ Styles]
@STYLE_FORMAT@
Style: Default,Noto Sans KR,56,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,2,1,2,20,20,40,1
Style: Thought,Noto Sans KR,56,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,-1,0,0,100,100,0,0,1,2,1,2,20,20,40,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:01.00,0:00:03.50,Default,Ji-woo,0,0,0,,{\pos(960,100)}Where were you {\i1}last{\i0} night?
Dialogue: 0,0:00:04.00,0:00:06.00,Thought,Min-ho,0,0,0,,I stayed late.\NAt the {\b1}office{\b0}.
Comment: 0,0:00:04.00,0:00:06.00,Default,,0,0,0,,translator's note: not shown
Dialogue: 0,0:00:05.00,0:00:07.00,Default,,0,0,0,,{\p1}m 0 0 l 100 0 100 100 0 100{\p0}
Dialogue: 0,0:00:06.50,0:00:08.00,Default,,0,0,0,,{\u1\fs40\c&H00FFFF&}Don't{\u0} lie\hto me & <you>.
Dialogue: 0,0:00:02.00,0:00:04.50,Default,,0,0,0,,{\an8}어젯밤에 어디 있었어?
"""
    return text.replace("@STYLE_FORMAT@", _ASS_STYLE_FORMAT).encode("utf-8")


def webvtt_with_bom() -> bytes:
    """A WebVTT file with a UTF-8 BOM, title, STYLE and NOTE blocks, cue ids, settings, MM:SS.mmm times, entities."""
    text = """WEBVTT - 사랑의 계절 3화
Kind: subtitles
Language: en

STYLE
::cue { color: yellow }

NOTE translated by the fan team,
two lines of note

intro
00:00:01.000 --> 00:00:03.500 align:start position:10% line:0
<v Ji-woo>Where were you <i>last</i> night?</v>

00:04.000 --> 00:06.000
<c.yellow>At the office</c> &amp; you know it &lt;3

3
00:00:06.500 --> 00:00:08.000 line:90%
<b>Don't</b> <u>lie</u> to me.
어젯밤에 어디 있었어?
"""
    return b"\xef\xbb\xbf" + text.encode("utf-8")


def long_track(cues: int = 900, minutes: float = 60) -> bytes:
    """A UTF-8 SubRip of `cues` cues evenly spread over `minutes` (each shown for 80 % of its slot)."""
    slot = minutes * 60 / cues
    lines = [
        (i * slot, i * slot + slot * 0.8, f"{_ENGLISH_DIALOGUE[i % 6]} ({i + 1})\n<i>{_KOREAN_DIALOGUE[i % 6]}</i>")
        for i in range(cues)
    ]
    return _srt(lines).encode("utf-8")


# --- bad files ---


def empty() -> bytes:
    return b""


def mp4_header() -> bytes:
    """The first bytes of an MP4 (an ftyp box then the start of an mdat), as sent when a video is picked by mistake."""
    ftyp = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    return ftyp + b"\x00\x00\x10\x00mdat" + bytes(range(256)) * 16


def json_document() -> bytes:
    return b'{"subtitles": [{"start": 1.0, "end": 3.5, "text": "Where were you last night?"}]}\n'


def random_text() -> bytes:
    return b"Episode 3 notes\nRemember to buy milk.\nThe meeting moved to Thursday.\n"


def no_cues_vtt() -> bytes:
    """A WebVTT header and a NOTE, no cue."""
    return b"WEBVTT\n\nNOTE nothing translated yet\n"


def malformed_timestamp_srt() -> bytes:
    """A SubRip whose second cue's timing line (line MALFORMED_TIMESTAMP_LINE) has minutes '0x'."""
    text = (
        "1\n"
        "00:00:01,000 --> 00:00:03,500\n"
        f"{ENGLISH_LINE}\n"
        "\n"
        "2\n"
        "\n"  # a stray blank line, as hand-edited files have
        "00:00:04,000 --> 00:0x:06,000\n"
        "I stayed late at the office.\n"
    )
    assert text.splitlines()[MALFORMED_TIMESTAMP_LINE - 1].startswith("00:00:04,000")
    return text.encode("utf-8")


def past_end_srt(duration_seconds: float) -> bytes:
    """Valid cues, the last one ending PAST_END_BY seconds after `duration_seconds`."""
    cues = [(1.0, 3.5, ENGLISH_LINE), (duration_seconds + PAST_END_BY - 2, duration_seconds + PAST_END_BY, "Later.")]
    return _srt(cues).encode("utf-8")


def oversized_srt() -> bytes:
    """A valid SubRip just over 2 MiB (long cues), so only the size limit refuses it."""
    text = "This line is padding to make the file large. " * 40
    n = (2 * 1024 * 1024) // len(text) + 1
    data = _srt([(i * 2.0, i * 2.0 + 1.5, text) for i in range(n)]).encode("utf-8")
    assert len(data) > 2 * 1024 * 1024
    return data
