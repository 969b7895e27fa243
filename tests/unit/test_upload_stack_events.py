"""The local fake-gcs-server publishes object events for the source bucket only (``-event.bucket``): chunk PUTs and
deletes in the upload bucket cost no Pub/Sub traffic, as in the cloud where only the source bucket notifies. That
holds as long as no function is triggered by another bucket, which this test guards."""

from __future__ import annotations

from kstream.registry import function_list


def test_every_storage_trigger_is_on_the_source_bucket() -> None:
    buckets = {spec.event.bucket for spec in function_list().event_functions if spec.event and spec.event.bucket}
    assert buckets == {"source"}, (
        f"storage triggers on {sorted(buckets)}: local_emulator/stack.py passes fake-gcs-server "
        "'-event.bucket <source bucket>', so events of other buckets would never reach them")

