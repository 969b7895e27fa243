"""kstream's command-line uploader and the client library behind it (also used by the tests and bench/).

    python -m kstream.client upload EPISODE.mp4 --series "Crash Landing" --episode 3 --title "Episode 3"

Chunks go straight to Cloud Storage through the signed URLs the API hands out, several at a time, with retries;
an interrupted upload resumes where it stopped when the same command runs again.
"""

from .api import ApiError, UploadApi
from .uploader import Interrupted, Uploader, UploadFailed, UploadResult

__all__ = ["ApiError", "Interrupted", "UploadApi", "UploadFailed", "UploadResult", "Uploader"]
