"""Cloud Storage: one client per process, created on first use.

With ``STORAGE_EMULATOR_HOST`` set the client is anonymous (a client with real credentials and the emulator
endpoint would try to reach Google's token server and hang); signing credentials are passed only to
``generate_signed_url`` (see kstream/adapters/url_signing.py when present).
"""

from __future__ import annotations

import functools
import os

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from ..settings import Settings


@functools.cache
def _client(project_id: str, emulated: bool) -> storage.Client:
    if emulated:
        return storage.Client(project=project_id, credentials=AnonymousCredentials())
    return storage.Client(project=project_id)


def client(settings: Settings) -> storage.Client:
    return _client(settings.project_id, bool(os.environ.get("STORAGE_EMULATOR_HOST")))
