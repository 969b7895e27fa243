"""Firestore: one client per process, created on first use (keeps cold starts short).

With ``FIRESTORE_EMULATOR_HOST`` set the client talks to the emulator with anonymous credentials.

The client's gRPC channel runs unary-stream calls (``RunQuery``, ``RunAggregationQuery``, ``BatchGetDocuments``)
on the calling thread (gRPC's ``SingleThreadedUnaryStream`` channel option). By default gRPC Python starts a
"channel spin" thread whenever such a call begins on an idle channel and hands every event of every call from it to
the waiting request thread: a thread start and two switches per query. A function's request threads each wait for
their own call anyway, so the spin thread buys nothing here (decision 0011 measures it). The option changes only
how the client waits; requests, retries and deadlines are the same.
"""

from __future__ import annotations

import functools
from typing import Any

import grpc
from google.cloud import firestore
from google.cloud.firestore_v1 import base_client
from google.cloud.firestore_v1.services.firestore import client as firestore_client
from google.cloud.firestore_v1.services.firestore.transports.grpc import FirestoreGrpcTransport

from ..settings import Settings

STREAMS_ON_CALLING_THREAD = (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)


class _Transport(FirestoreGrpcTransport):
    """The cloud's channel (TLS, credentials, the library's keep-alive) with unary-stream calls on the caller."""

    @classmethod
    def create_channel(cls, host: str = "firestore.googleapis.com", **kwargs: Any) -> grpc.Channel:
        kwargs["options"] = [*(kwargs.get("options") or ()), STREAMS_ON_CALLING_THREAD]
        return super().create_channel(host, **kwargs)


class Client(firestore.Client):
    """``firestore.Client`` whose channel (cloud or emulator) runs unary-stream calls on the calling thread."""

    @property
    def _firestore_api(self) -> Any:
        return self._firestore_api_helper(_Transport, firestore_client.FirestoreClient, firestore_client)

    def _emulator_channel(self, transport: Any) -> grpc.Channel:
        # The library's emulator channel (insecure, the emulator's "owner" bearer, unbounded messages) plus the
        # option: it takes no options from its caller.
        return grpc.insecure_channel(self._emulator_host, options=[
            ("Authorization", "Bearer owner"), *base_client._GRPC_MSG_SIZE_OPTIONS, STREAMS_ON_CALLING_THREAD])


@functools.cache
def _client(project_id: str) -> firestore.Client:
    return Client(project=project_id)


def client(settings: Settings) -> firestore.Client:
    return _client(settings.project_id)
