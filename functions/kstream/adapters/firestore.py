"""Firestore: one client per process, created on first use (keeps cold starts short).

With ``FIRESTORE_EMULATOR_HOST`` set the client talks to the emulator with anonymous credentials.
"""

from __future__ import annotations

import functools

from google.cloud import firestore

from ..settings import Settings


@functools.cache
def _client(project_id: str) -> firestore.Client:
    return firestore.Client(project=project_id)


def client(settings: Settings) -> firestore.Client:
    return _client(settings.project_id)
