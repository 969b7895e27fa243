"""The Firestore adapter's client: its channel, in the cloud and on the emulator, runs unary-stream calls (queries,
counts, batch gets) on the calling thread, and the emulator channel still carries the emulator's bearer."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials
from kstream.adapters.firestore import Client


def _channel(client: Client) -> object:
    return client._firestore_api._transport.grpc_channel


def test_the_cloud_channel_runs_streams_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    channel = _channel(Client(project="demo-adapter", credentials=AnonymousCredentials()))
    assert channel._single_threaded_unary_stream is True  # type: ignore[attr-defined]
    query = channel.unary_stream("/google.firestore.v1.Firestore/RunQuery")  # type: ignore[attr-defined]
    assert type(query).__name__ == "_SingleThreadedUnaryStreamMultiCallable"


def test_the_emulator_channel_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    client = Client(project="demo-adapter")
    channel = _channel(client)
    assert channel._single_threaded_unary_stream is True  # type: ignore[attr-defined]
    assert ("authorization", "Bearer owner") in client._rpc_metadata
