"""Job completion notices on Pub/Sub, in the documented shape:
``{"job": {"name": "...", "state": "SUCCEEDED"|"FAILED", "error": {google.rpc.Status}}}`` sent once, on success or
failure only. The Pub/Sub emulator is reached through ``PUBSUB_EMULATOR_HOST`` (honoured by PublisherClient)."""

from __future__ import annotations

import json
import logging
import os
import threading

log = logging.getLogger("local_emulator.transcoder")


def job_result_message(name: str, state: str, error: dict | None) -> bytes:
    result: dict = {"name": name, "state": state}
    if error:
        result["error"] = error
    return json.dumps({"job": result}).encode("utf-8")


class Notifier:
    def __init__(self) -> None:
        self._client = None
        self._lock = threading.Lock()

    def _publisher(self):
        with self._lock:
            if self._client is None:
                from google.cloud import (
                    pubsub_v1,  # heavy import: only when a job asks for a notice
                )

                self._client = pubsub_v1.PublisherClient()
            return self._client

    def publish(self, topic: str, data: bytes, timeout: float = 30.0) -> bool:
        if not os.environ.get("PUBSUB_EMULATOR_HOST"):
            log.warning("PUBSUB_EMULATOR_HOST is not set: no notice sent to %s", topic)
            return False
        try:
            self._publisher().publish(topic, data).result(timeout=timeout)
            return True
        except Exception as exc:  # a missing topic must not change the job's outcome
            log.warning("publishing the job result to %s failed: %s", topic, exc)
            return False

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.stop()
                except Exception as exc:  # closing is best effort
                    log.debug("closing the Pub/Sub publisher failed: %s", exc)
                self._client = None
