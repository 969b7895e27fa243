"""Manifest rewriting: every URI absolute under the video's CDN prefix and signed; quality selection; damaged input."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from kstream.streaming import manifests
from kstream.streaming.manifests import (
    DASH_NS,
    ManifestError,
    RenditionMissing,
    hls_variant_for,
    hls_variants,
    object_under,
    rendition_name,
    rewrite_hls,
    rewrite_mpd,
)

PREFIX = "https://cdn.kstream.test/media/videos/ep1/"
QUERY = "URLPrefix=abc=&Expires=1&KeyName=k&Signature=sig="


def sign(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{QUERY}" if url.startswith(PREFIX) else url


MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=800000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,FRAME-RATE=30.000,AUDIO="audio"
video-360p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=3200000,AVERAGE-BANDWIDTH=3000000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1728x720,FRAME-RATE=30.000,AUDIO="audio"
video-720p.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="iframes/video-360p-iframes.m3u8"
"""

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="video-360p-init.m4s"
#EXTINF:6.000000,
video-360p0000000000.m4s
#EXTINF:2.500000,
video-360p0000000001.m4s
#EXT-X-ENDLIST
"""

MPD = f"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="{DASH_NS}" xmlns:cenc="urn:mpeg:cenc:2013" profiles="urn:mpeg:dash:profile:isoff-live:2011" type="static"
     mediaPresentationDuration="PT8.500S" minBufferTime="PT6.000S">
  <Period id="0" start="PT0S" duration="PT8.500S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4" segmentAlignment="true" startWithSAP="1">
      <Representation id="video-360p" bandwidth="900000" codecs="avc1.64001e" width="640" height="360">
        <SegmentTemplate timescale="1000" initialization="video-360p-init.m4s" media="video-360p$Number%010d$.m4s"
                         startNumber="0">
          <SegmentTimeline><S t="0" d="6000" /><S d="2500" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
      <Representation id="video-720p" bandwidth="3200000" codecs="avc1.64001f" width="1280" height="720">
        <SegmentTemplate timescale="1000" initialization="video-720p-init.m4s" media="video-720p$Number%010d$.m4s"
                         startNumber="0">
          <SegmentTimeline><S t="0" d="6000" /><S d="2500" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
    <AdaptationSet id="1" contentType="audio" mimeType="audio/mp4">
      <Representation id="audio" bandwidth="128000" codecs="mp4a.40.2" audioSamplingRate="48000">
        <SegmentTemplate timescale="1000" initialization="audio-init.m4s" media="audio$Number%010d$.m4s"
                         startNumber="0">
          <SegmentTimeline><S t="0" d="6000" /><S d="2500" /></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>
"""


def _uri_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# ---------------------------------------------------------------------------------------------------------- HLS


def test_master_uris_become_absolute_and_signed() -> None:
    out = rewrite_hls(MASTER, PREFIX + "manifest.m3u8", sign)
    assert _uri_lines(out) == [PREFIX + "video-360p.m3u8?" + QUERY, PREFIX + "video-720p.m3u8?" + QUERY]
    assert f'URI="{PREFIX}audio.m3u8?{QUERY}"' in out
    assert f'URI="{PREFIX}iframes/video-360p-iframes.m3u8?{QUERY}"' in out
    # tags and attributes other than URI are untouched
    assert 'CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360' in out
    assert out.startswith("#EXTM3U\n#EXT-X-VERSION:7\n")


def test_media_playlist_init_and_segments_are_signed() -> None:
    out = rewrite_hls(MEDIA, PREFIX + "video-360p.m3u8", sign)
    assert f'#EXT-X-MAP:URI="{PREFIX}video-360p-init.m4s?{QUERY}"' in out
    assert _uri_lines(out) == [f"{PREFIX}video-360p000000000{i}.m4s?{QUERY}" for i in (0, 1)]
    assert "#EXTINF:2.500000," in out and out.rstrip().endswith("#EXT-X-ENDLIST")


def test_uris_outside_the_prefix_are_not_given_the_signature() -> None:
    playlist = "#EXTM3U\n#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://key-1\"\n#EXTINF:6,\nhttps://elsewhere.test/a.ts\n" \
        "#EXTINF:6,\n../other-video/b.ts\n#EXTINF:6,\nc.ts?part=1\n"
    out = rewrite_hls(playlist, PREFIX + "p.m3u8", sign)
    assert 'URI="skd://key-1"' in out
    assert _uri_lines(out) == ["https://elsewhere.test/a.ts", "https://cdn.kstream.test/media/videos/other-video/b.ts",
                               f"{PREFIX}c.ts?part=1&{QUERY}"]


@pytest.mark.parametrize("text", ["", "not a playlist\n", "<MPD/>", "\n#EXTM3U\n"])
def test_a_non_playlist_is_refused(text: str) -> None:
    with pytest.raises(ManifestError):
        rewrite_hls(text, PREFIX + "manifest.m3u8", sign)


def test_a_byte_order_mark_and_crlf_are_accepted() -> None:
    out = rewrite_hls("\ufeff" + MEDIA.replace("\n", "\r\n"), PREFIX + "video-360p.m3u8", sign)
    assert "\r" not in out and len(_uri_lines(out)) == 2


def test_variants_and_their_renditions() -> None:
    variants = hls_variants(MASTER)
    assert [v.uri for v in variants] == ["video-360p.m3u8", "video-720p.m3u8"]
    # the 720p rung of a 2.4:1 film is 1728x720; the name wins over the resolution
    assert [v.rendition for v in variants] == ["360p", "720p"]
    assert hls_variant_for(MASTER, "720p").resolution == (1728, 720)
    assert hls_variants(MEDIA) == []


def test_a_missing_quality_names_what_there_is() -> None:
    with pytest.raises(RenditionMissing) as missing:
        hls_variant_for(MASTER, "1080p")
    assert missing.value.available == ["360p", "720p"]


@pytest.mark.parametrize(
    ("name", "width", "height", "expected"),
    [
        ("video-720p.m3u8", None, None, "720p"),
        ("video-1080p", 1920, 800, "1080p"),
        ("sd.m3u8", 640, 360, "360p"),
        ("sd.m3u8", 360, 640, "360p"),  # portrait: the short side
        ("video-hd", None, None, None),
        (None, 1280, 720, "720p"),
        ("sub/dir/video_540p.m3u8", None, None, "540p"),
    ],
)
def test_rendition_names(name: str | None, width: int | None, height: int | None, expected: str | None) -> None:
    assert rendition_name(name, width, height) == expected


# --------------------------------------------------------------------------------------------------------- DASH


def _representations(text: str) -> list[str]:
    root = ET.fromstring(text)
    return [rep.get("id", "") for rep in root.iter(f"{{{DASH_NS}}}Representation")]


def _templates(text: str) -> list[ET.Element]:
    return list(ET.fromstring(text).iter(f"{{{DASH_NS}}}SegmentTemplate"))


def test_mpd_templates_become_absolute_and_signed() -> None:
    out = rewrite_mpd(MPD, PREFIX + "manifest.mpd", sign)
    templates = _templates(out)
    assert len(templates) == 3
    first = templates[0]
    assert first.get("initialization") == f"{PREFIX}video-360p-init.m4s?{QUERY}"
    assert first.get("media") == f"{PREFIX}video-360p$Number%010d$.m4s?{QUERY}"
    assert all(t.get("media", "").endswith(QUERY) for t in templates)
    # the default namespace stays the default (no ns0: prefixes players would choke on)
    assert "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"" in out and "ns0:" not in out
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert _representations(out) == ["video-360p", "video-720p", "audio"]


def test_mpd_quality_keeps_one_video_representation_and_the_audio() -> None:
    out = rewrite_mpd(MPD, PREFIX + "manifest.mpd", sign, quality="720p")
    assert _representations(out) == ["video-720p", "audio"]
    assert all(t.get("media", "").startswith(PREFIX) for t in _templates(out))


def test_mpd_missing_quality() -> None:
    with pytest.raises(RenditionMissing) as missing:
        rewrite_mpd(MPD, PREFIX + "manifest.mpd", sign, quality="1080p")
    assert missing.value.available == ["360p", "720p"]


def test_mpd_base_urls_are_folded_into_the_urls() -> None:
    mpd = f"""<MPD xmlns="{DASH_NS}" type="static"><BaseURL>renditions/</BaseURL><Period>
      <AdaptationSet mimeType="video/mp4">
        <Representation id="r1" width="640" height="360"><BaseURL>v360/</BaseURL>
          <SegmentList><Initialization sourceURL="init.mp4" range="0-99"/>
            <SegmentURL media="s1.m4s"/><SegmentURL media="https://other.test/s2.m4s"/></SegmentList>
        </Representation>
        <Representation id="r2" width="1280" height="720"><BaseURL>v720/file.mp4</BaseURL>
          <SegmentBase indexRange="100-200"/></Representation>
      </AdaptationSet></Period></MPD>"""
    out = rewrite_mpd(mpd, PREFIX + "manifest.mpd", sign)
    root = ET.fromstring(out)
    ns = {"d": DASH_NS}
    assert [b.text for b in root.iter(f"{{{DASH_NS}}}BaseURL")] == [f"{PREFIX}renditions/v720/file.mp4?{QUERY}"]
    init = root.find(".//d:Initialization", ns)
    assert init is not None and init.get("sourceURL") == f"{PREFIX}renditions/v360/init.mp4?{QUERY}"
    assert init.get("range") == "0-99"
    assert [s.get("media") for s in root.iter(f"{{{DASH_NS}}}SegmentURL")] == [
        f"{PREFIX}renditions/v360/s1.m4s?{QUERY}", "https://other.test/s2.m4s"]
    assert "renditions/v360/" not in [b.text for b in root.iter(f"{{{DASH_NS}}}BaseURL")]


@pytest.mark.parametrize(
    "text",
    [
        "<not-xml",
        "#EXTM3U\n",
        f'<Period xmlns="{DASH_NS}"/>',
        '<?xml version="1.0"?><!DOCTYPE MPD [<!ENTITY a "aaaa">]><MPD>&a;</MPD>',
    ],
)
def test_a_damaged_or_hostile_mpd_is_refused(text: str) -> None:
    with pytest.raises(ManifestError):
        rewrite_mpd(text, PREFIX + "manifest.mpd", sign)


def test_an_oversized_manifest_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifests, "MAX_MANIFEST_BYTES", 100)
    with pytest.raises(ManifestError):
        rewrite_hls(MEDIA, PREFIX + "video-360p.m3u8", sign)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (PREFIX + "video-360p.m3u8", "video-360p.m3u8"),
        (PREFIX + "sub/a.m3u8?x=1", "sub/a.m3u8"),
        (PREFIX, None),
        (PREFIX + "a/../b.m3u8", None),
        (PREFIX + "a//b.m3u8", None),
        ("https://cdn.kstream.test/media/videos/ep10/a.m3u8", None),
        ("https://other.test/media/videos/ep1/a.m3u8", None),
    ],
)
def test_object_under(url: str, expected: str | None) -> None:
    assert object_under(PREFIX, url) == expected
