"""JobConfig normalisation, defaults and validation, as the Transcoder v1 API documents them.

A facade over :mod:`.jobconfig` (one module per section of the reference): ``normalize_job`` / ``normalize_template``
return the config with the documented defaults filled in (the real API answers with a populated config too) or raise
``ApiError`` naming the field at fault (``job.config.muxStreams[1].elementaryStreams[0]`` ...).
"""

from __future__ import annotations

from .jobconfig.common import (
    CONTAINER_EXTENSIONS,
    SEGMENTED_CONTAINERS,
    camelize,
    container_extension,
    enum_name,
    enum_number,
    format_duration,
    is_multiple,
    is_valid_gcs_object,
    parse_duration,
    split_gcs_dir,
)
from .jobconfig.elementary import gop_seconds
from .jobconfig.job import normalize_config, normalize_job, normalize_template

__all__ = [
    "CONTAINER_EXTENSIONS",
    "SEGMENTED_CONTAINERS",
    "camelize",
    "container_extension",
    "enum_name",
    "enum_number",
    "format_duration",
    "gop_seconds",
    "is_multiple",
    "is_valid_gcs_object",
    "normalize_config",
    "normalize_job",
    "normalize_template",
    "parse_duration",
    "split_gcs_dir",
]
