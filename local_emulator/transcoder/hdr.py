"""Conversion of a rendition to HLG or HDR10 (the ``hlg`` / ``hdr10`` colour formats of H264/H265/Vp9CodecSettings).

The reference ("Convert an input video to HDR"): H.265 converts to HLG, HDR10 or SDR; H.264 and VP9 to HLG or SDR;
no colour format means passthrough. What the source is comes from its colour tags (probe.py reads the video stream's
``color_transfer``): ARIB STD-B67 is HLG, SMPTE ST 2084 is PQ, anything else (untagged included) SDR BT.709. From
SDR, the conversion to HDR, with libzimg (ffmpeg's ``zscale``):

    Y'CbCr BT.709 (limited)  -> linear RGB, BT.709 primaries (float)
                             -> BT.2020 primaries, transfer ARIB STD-B67 (HLG) or SMPTE ST 2084 (PQ, HDR10),
                                BT.2020 non-constant-luminance matrix, limited range

with a nominal peak of 203 cd/m2 for SDR reference white, as ITU-R BT.2408 maps it: SDR white lands at 75 % HLG
signal and at 58 % PQ signal (203 nits). The rendition's ``pixelFormat`` is kept (10-bit is what HDR needs; the
reference says an 8-bit setting gives an output that is not valid HDR10, not an error). The stream carries the colour
tags (ffmpeg's ``-color_primaries`` / ``-color_trc`` / ``-colorspace`` for every encoder, and for libx265 the same in
its VUI); HDR10 adds the SMPTE ST 2086 mastering display (BT.2020 primaries, D65, 0.0001-1000 cd/m2) and the content
light level (MaxCLL = MaxFALL = 203: nothing converted from SDR is brighter than its white) SEI messages.

No colour format is passthrough, as the reference says ("honors the input color primaries, transfer function,
range, chroma location, and color space; no color conversion"): no filter, and the encoder takes the decoded frames'
colour tags, so an HLG or PQ input stays HLG or PQ. The same format asked of an HDR source passes through too (HLG
asked ``hlg``, PQ asked ``hdr10``: no filter, the tags written); the other HDR format is converted through linear
light (BT.2020, 203 cd/m2 nominal peak on both sides, so reference white stays reference white); ``sdr`` is
tone-mapped to SDR BT.709 as ffmpeg's ``tonemap`` documentation does it: zscale to linear light (``npl=100``),
BT.709 primaries, ``tonemap=mobius`` (linear below its knee, the highlights rolled off), zscale to BT.709 transfer
and matrix, limited range. An HLG white (75 %) comes back at 8-bit Y' 218, black at 16. The encoder takes the
frames' BT.709 tags (ffmpeg passes the filter graph's colour properties on).
"""

from __future__ import annotations

HLG, HDR10 = "hlg", "hdr10"
SDR_WHITE_NITS = 203  # ITU-R BT.2408 reference white
_TRANSFER = {HLG: "arib-std-b67", HDR10: "smpte2084"}
_SOURCE_FORMATS = {"arib-std-b67": HLG, "smpte2084": HDR10}  # ffprobe's color_transfer -> the colour format
# SMPTE ST 2086 in x265's units (chromaticity in 0.00002, luminance in 0.0001 cd/m2): BT.2020 primaries, D65 white
MASTER_DISPLAY = "G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)L(10000000,1)"
MAX_CLL = f"{SDR_WHITE_NITS},{SDR_WHITE_NITS}"


def _asks_colour(settings: dict) -> bool:
    """Whether a normalised codec settings sets its colour format (sdr, hlg or hdr10); none set is passthrough."""
    return any(settings.get(name) is not None for name in ("sdr", HLG, HDR10))


def color_format(settings: dict) -> str:
    """``hlg`` or ``hdr10`` when a normalised codec settings asks a conversion to HDR, else "" (sdr / passthrough)."""
    return next((name for name in (HLG, HDR10) if settings.get(name) is not None), "")


def output_format(settings: dict, source=None) -> str:
    """``hlg`` or ``hdr10`` when the rendition is written as HDR: its colour format, or with none (passthrough) what
    the input is; "" for SDR. What the manifests signal."""
    if _asks_colour(settings):
        return color_format(settings)
    return source_format(source)


def source_format(source) -> str:
    """``hlg`` or ``hdr10`` when the probed input (probe.SourceInfo, or None) is HLG or PQ by its transfer, else ""."""
    return _SOURCE_FORMATS.get(getattr(source, "color_transfer", "") or "", "")


def _source_side(source, transfer: str) -> str:
    """zscale's input side for an HDR source: its transfer, matrix, primaries and range (BT.2020 when untagged)."""
    matrix = "bt2020c" if source.color_space == "bt2020c" else "bt2020nc"
    primaries = "bt2020" if source.color_primaries in ("", "bt2020", "unknown") else source.color_primaries
    rin = "full" if source.color_range in ("pc", "jpeg") else "tv"
    return f"tin={transfer}:min={matrix}:pin={primaries}:rin={rin}"


def conversion_filters(settings: dict, source=None) -> str:
    """The filters (",zscale=...", "" when none is needed) bringing one rendition's frames from what the input is
    (``source``: probe.SourceInfo; None or untagged = SDR BT.709) to the colour format its settings ask."""
    target, origin = color_format(settings), source_format(source)
    if target == origin or not _asks_colour(settings):
        return ""  # no colour format, or SDR as sdr, HLG as hlg, PQ as hdr10: passthrough
    if not target:  # sdr from HDR: tone-mapped to BT.709
        return (f",zscale={_source_side(source, _TRANSFER[origin])}:t=linear:npl=100,format=gbrpf32le"
                ",zscale=p=bt709,tonemap=tonemap=mobius:desat=0,zscale=t=bt709:m=bt709:r=tv")
    npl = f"npl={SDR_WHITE_NITS}"
    if origin:  # HLG <-> PQ through linear light, BT.2020 throughout
        return (f",zscale={_source_side(source, _TRANSFER[origin])}:t=linear:m=gbr:p=bt2020:r=full:{npl}"
                f",format=gbrpf32le"
                f",zscale=tin=linear:min=gbr:pin=bt2020:rin=full:t={_TRANSFER[target]}:m=bt2020nc:p=bt2020:r=tv:{npl}")
    return (f",zscale=tin=bt709:min=bt709:pin=bt709:rin=tv:t=linear:m=gbr:p=bt709:r=full:{npl},format=gbrpf32le"
            f",zscale=tin=linear:min=gbr:pin=bt709:rin=full:t={_TRANSFER[target]}:m=bt2020nc:p=bt2020:r=tv:{npl}")


def encoder_options(settings: dict, index: int) -> list[str]:
    """The colour tags of output video ``index`` (every encoder writes them into its stream / the container)."""
    target = color_format(settings)
    if not target:
        return []
    return [f"-color_primaries:v:{index}", "bt2020", f"-color_trc:v:{index}", _TRANSFER[target],
            f"-colorspace:v:{index}", "bt2020nc", f"-color_range:v:{index}", "tv"]


def x265_params(settings: dict) -> list[str]:
    """x265's VUI (and for HDR10 its SEI) for the conversion: x265-params entries."""
    target = color_format(settings)
    if not target:
        return []
    params = ["colorprim=bt2020", f"transfer={_TRANSFER[target]}", "colormatrix=bt2020nc", "range=limited"]
    if target == HDR10:
        params += ["hdr10=1", f"master-display={MASTER_DISPLAY}", f"max-cll={MAX_CLL}"]
    return params


def video_range(written: str) -> str:
    """The HLS master's VIDEO-RANGE of a rendition written as ``written`` (output_format): ``HLG``, ``PQ``, or ""
    (SDR: the attribute is left out)."""
    return {HLG: "HLG", HDR10: "PQ"}.get(written, "")


# ISO/IEC 23091-2 (CICP) code points of an HDR rendition, as a DASH MPD signals them (DASH-IF IOP 4.3, 6.2.5)
CICP_PRIMARIES, CICP_MATRIX = "urn:mpeg:mpegB:cicp:ColourPrimaries", "urn:mpeg:mpegB:cicp:MatrixCoefficients"
CICP_TRANSFER = "urn:mpeg:mpegB:cicp:TransferCharacteristics"


def dash_properties(written: str) -> list[tuple[str, str, str]]:
    """(element, schemeIdUri, value) of a DASH Representation written as ``written`` (output_format); [] for SDR.

    BT.2020 primaries (9) and non-constant-luminance matrix (9) are essential: a player that cannot show them must skip
    the Representation. PQ (16) is essential too. HLG is what the DASH-IF guidelines call backwards compatible: its
    EssentialProperty names the SDR-compatible BT.2020 transfer (14) and a SupplementalProperty says HLG (18), so an
    HLG-capable player shows HLG and an SDR BT.2020 one still plays it."""
    if not written:
        return []
    common = [("EssentialProperty", CICP_PRIMARIES, "9"), ("EssentialProperty", CICP_MATRIX, "9")]
    if written == HDR10:
        return [*common, ("EssentialProperty", CICP_TRANSFER, "16")]
    return [*common, ("EssentialProperty", CICP_TRANSFER, "14"), ("SupplementalProperty", CICP_TRANSFER, "18")]
