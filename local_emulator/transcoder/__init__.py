"""A local Google Cloud Transcoder API (v1 REST) for kstream: jobs, job templates and ``preset/web-hd``, executed
with ONE ffmpeg process per job against the storage emulator, with Pub/Sub completion notices.

Jobs and templates live in memory only: a restart forgets them.

    from local_emulator.transcoder import start
    emulator = start("127.0.0.1", 0, workers=1)      # reads STORAGE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST
    client = TranscoderServiceClient(transport="rest", credentials=AnonymousCredentials(),
                                     client_options=ClientOptions(api_endpoint=emulator.url))
    ...
    emulator.stop()

Command line: ``python -m local_emulator.transcoder --host 127.0.0.1 --port 8090``.
"""

from .app import TranscoderEmulator, start

__all__ = ["TranscoderEmulator", "start"]
