"""Conversion of a rendition to HLG or HDR10 (the ``hlg`` / ``hdr10`` colour formats of H264/H265/Vp9CodecSettings).

The reference ("Convert an input video to HDR"): H.265 converts to HLG, HDR10 or SDR; H.264 and VP9 to HLG or SDR;
no colour format means passthrough. The source is taken as SDR BT.709 (the planner does not read the input's colour
tags; an untagged input is what the service treats as SDR too). The conversion, with libzimg (ffmpeg's ``zscale``):

    Y'CbCr BT.709 (limited)  -> linear RGB, BT.709 primaries (float)
                             -> BT.2020 primaries, transfer ARIB STD-B67 (HLG) or SMPTE ST 2084 (PQ, HDR10),
                                BT.2020 non-constant-luminance matrix, limited range

with a nominal peak of 203 cd/m2 for SDR reference white, as ITU-R BT.2408 maps it: SDR white lands at 75 % HLG
signal and at 58 % PQ signal (203 nits). The rendition's ``pixelFormat`` is kept (10-bit is what HDR needs; the
reference says an 8-bit setting gives an output that is not valid HDR10, not an error). The stream carries the colour
tags (ffmpeg's ``-color_primaries`` / ``-color_trc`` / ``-colorspace`` for every encoder, and for libx265 the same in
its VUI); HDR10 adds the SMPTE ST 2086 mastering display (BT.2020 primaries, D65, 0.0001-1000 cd/m2) and the content
light level (MaxCLL = MaxFALL = 203: nothing converted from SDR is brighter than its white) SEI messages.
"""

from __future__ import annotations

HLG, HDR10 = "hlg", "hdr10"
SDR_WHITE_NITS = 203  # ITU-R BT.2408 reference white
_TRANSFER = {HLG: "arib-std-b67", HDR10: "smpte2084"}
# SMPTE ST 2086 in x265's units (chromaticity in 0.00002, luminance in 0.0001 cd/m2): BT.2020 primaries, D65 white
MASTER_DISPLAY = "G(8500,39850)B(6550,2300)R(35400,14600)WP(15635,16450)L(10000000,1)"
MAX_CLL = f"{SDR_WHITE_NITS},{SDR_WHITE_NITS}"


def color_format(settings: dict) -> str:
    """``hlg`` or ``hdr10`` when a normalised codec settings asks a conversion to HDR, else "" (sdr / passthrough)."""
    return next((name for name in (HLG, HDR10) if settings.get(name) is not None), "")


def conversion_filters(settings: dict) -> str:
    """The filters (",zscale=...,zscale=...", "" for SDR) converting one rendition's SDR BT.709 frames to HDR."""
    target = color_format(settings)
    if not target:
        return ""
    npl = f"npl={SDR_WHITE_NITS}"
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
