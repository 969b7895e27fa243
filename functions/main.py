"""kstream's Cloud Functions entry points: one per entry of functions.yaml, nothing else lives here.

Each is deployed as its own gen2 function with ``--entry-point <name>``. The work happens in the ``kstream``
package beside this file; entry points only bind a handler to its function-list entry.
"""

from kstream.events import cloud_event_function
from kstream.http import http_function

auth_validate = http_function("auth-validate", "kstream.api.auth_validate:validate_token")
video_get = http_function("video-get", "kstream.api.catalog:get_video")
metadata_upsert = http_function("metadata-upsert", "kstream.api.catalog:upsert_metadata")
video_search = http_function("video-search", "kstream.api.catalog:search_videos")
series_get = http_function("series-get", "kstream.api.catalog:get_series")
upload_start = http_function("upload-start", "kstream.api.uploads:start")
upload_chunk = http_function("upload-chunk", "kstream.api.uploads:chunk")
upload_status = http_function("upload-status", "kstream.api.uploads:status")
upload_complete = http_function("upload-complete", "kstream.api.uploads:complete")
stream_video = http_function("stream", "kstream.api.stream:stream_video")
subtitles_list = http_function("subtitles-list", "kstream.api.subtitles:list_tracks")
subtitle_put = http_function("subtitle-put", "kstream.api.subtitles:put_track")
subtitle_delete = http_function("subtitle-delete", "kstream.api.subtitles:delete_track")
transcode_start = http_function("transcode-start", "kstream.api.transcode:start")
transcode_status = http_function("transcode-status", "kstream.api.transcode:status")
on_source_uploaded = cloud_event_function("on-source-uploaded", "kstream.transcode.handlers:on_source_uploaded")
on_transcoder_event = cloud_event_function("on-transcoder-event", "kstream.transcode.handlers:on_transcoder_event")
sweep_stuck_jobs = cloud_event_function("sweep-stuck-jobs", "kstream.transcode.handlers:sweep_stuck_jobs")
