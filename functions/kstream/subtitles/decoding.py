"""Bytes of an uploaded subtitle file -> text: refuse what is not text, then find the encoding.

Order (each step only if the previous one did not decide):
1. known binary signatures (MP4/QuickTime, Matroska/WebM, MPEG-TS, AVI, images, archives, PDF) -> refused;
2. a byte order mark: UTF-8, UTF-32 LE/BE, UTF-16 LE/BE;
3. UTF-16 without BOM, recognised by the zero bytes ASCII characters leave in every other byte;
4. strict UTF-8 (ASCII included);
5. charset-normalizer's candidates, with two preferences among equally plausible ones: CP949 when the text decodes
   as Hangul (small Korean files are often guessed as Big5 or GB18030), and CP1252 over other single-byte Latin
   code pages (a Western file with a few accents is otherwise guessed as CP1250 or ISO 8859-x).
Decoded text with control characters other than tab, CR, LF and form feed is refused as binary.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from .model import SubtitleInvalid

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "an MP4/QuickTime video"),
    (4, b"moov", "a QuickTime video"),
    (4, b"mdat", "a QuickTime video"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"),
    (0, b"RIFF", "a RIFF (AVI/WAV) file"),
    (0, b"\x00\x00\x01\xba", "an MPEG program stream"),
    (0, b"FLV", "an FLV video"),
    (0, b"ID3", "an MP3 file"),
    (0, b"OggS", "an Ogg file"),
    (0, b"\x89PNG", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"Rar!", "a RAR archive"),
    (0, b"7z\xbc\xaf", "a 7-Zip archive"),
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_CJK_GUESSES = {
    "big5", "big5hkscs", "cp950", "gb2312", "gbk", "gb18030", "hz", "shift_jis", "cp932", "euc_jp", "euc_jis_2004",
    "euc_jisx0213", "shift_jis_2004", "shift_jisx0213", "iso2022_jp", "iso2022_kr", "johab", "euc_kr", "cp949",
}
_LATIN_SINGLE_BYTE = {
    "cp1250", "cp1252", "cp1254", "cp1257", "cp1258", "cp850", "cp858", "latin_1", "iso8859_2", "iso8859_3",
    "iso8859_4", "iso8859_9", "iso8859_10", "iso8859_13", "iso8859_14", "iso8859_15", "iso8859_16", "mac_roman",
    "mac_latin2", "mac_iceland", "mac_turkish",
}


def _codec_name(name: str) -> str:
    return codecs.lookup(name).name


def binary_kind(data: bytes) -> str | None:
    """What a known binary file is ('an MP4/QuickTime video', ...), or None if it has no known signature."""
    for offset, magic, kind in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return kind
    if len(data) >= 189 and data[0] == 0x47 and data[188] == 0x47:
        return "an MPEG-TS video"
    return None


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' if zero bytes sit in every other byte as ASCII-heavy UTF-16 leaves them."""
    sample = data[:4096]
    if len(sample) < 8:
        return None
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_zeros > 0.3 * half and even_zeros < 0.05 * half:
        return "utf-16-le"
    if even_zeros > 0.3 * half and odd_zeros < 0.05 * half:
        return "utf-16-be"
    return None


def _looks_like_hangul(text: str) -> bool:
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return non_ascii > 0 and len(_HANGUL.findall(text)) >= 0.8 * non_ascii


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _guess(data: bytes) -> tuple[str, str] | None:
    """charset-normalizer's pick, adjusted by the CP949 and CP1252 preferences; None if nothing fits."""
    matches = list(charset_normalizer.from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    best_name = _codec_name(best.encoding)
    candidates = {_codec_name(m.encoding) for m in matches if m.chaos <= best.chaos + 0.01}
    korean = _strict(data, "cp949")
    if korean is not None and _looks_like_hangul(korean) and (
        "cp949" in candidates or "euc_kr" in candidates or best.encoding in _CJK_GUESSES
    ):
        return korean, "cp949"
    if best.encoding in _LATIN_SINGLE_BYTE and "cp1252" in candidates:
        western = _strict(data, "cp1252")
        if western is not None:
            return western, "cp1252"
    return str(best), best_name


def decode(data: bytes, *, file_name: str) -> tuple[str, str]:
    """(text, encoding) of a subtitle file, the BOM removed and line ends left as they are.

    Raises SubtitleInvalid for an empty file, a known binary format, bytes no text encoding explains, or text full
    of control characters.
    """
    if not data.strip(b" \t\r\n\x00" + codecs.BOM_UTF8 + codecs.BOM_UTF16_LE + codecs.BOM_UTF16_BE):
        raise SubtitleInvalid(f"{file_name} is empty", file_name=file_name)
    kind = binary_kind(data)
    if kind:
        raise SubtitleInvalid(f"{file_name} is {kind}, not a subtitle file", file_name=file_name)

    text: str | None = None
    encoding = ""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            text, encoding = _strict(data, codec), _codec_name(codec)
            if codec in ("utf-16", "utf-32"):
                encoding = f"{encoding}-{'le' if bom[0] == 0xFF else 'be'}"
            break
    if text is None and not encoding:
        utf16 = _utf16_without_bom(data)
        if utf16:
            text, encoding = _strict(data, utf16), utf16
    if text is None and not encoding:
        text, encoding = _strict(data, "utf-8"), "utf-8"
        if text is None:
            guessed = _guess(data)
            if guessed:
                text, encoding = guessed
    if text is None and len(_BINARY_BYTES.findall(data[:65536])) > len(data[:65536]) // 100:
        raise SubtitleInvalid(f"{file_name} is a binary file, not a subtitle file", file_name=file_name)
    if text is None:
        raise SubtitleInvalid(
            f"{file_name} is not text in a known encoding (expected UTF-8, UTF-16, CP949/EUC-KR or CP1252)",
            file_name=file_name,
        )
    text = text.removeprefix("\ufeff")
    controls = len(_CONTROL.findall(text[:65536]))
    if controls > max(2, len(text[:65536]) // 1000):
        raise SubtitleInvalid(f"{file_name} is a binary file, not a subtitle file", file_name=file_name)
    return text, encoding
