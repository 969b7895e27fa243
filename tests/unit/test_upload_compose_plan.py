"""The compose plan copies as few bytes as Cloud Storage's 32-source limit allows: every byte that goes into an
intermediate object is composed twice (fake-gcs-server really copies it each time), so only the chunks that cannot
fit in the final call go through intermediates, and 32 chunks or fewer are one call."""

from __future__ import annotations

import math

import pytest
from kstream.uploads import compose

FAN_IN = compose.MAX_COMPOSE_SOURCES


class SizedBlob:
    def __init__(self, bucket: SizedBucket, name: str) -> None:
        self.bucket, self.name, self.content_type, self.generation = bucket, name, None, 1

    def compose(self, sources: list[SizedBlob]) -> None:
        assert 1 <= len(sources) <= FAN_IN, len(sources)
        parts = [self.bucket.objects[s.name] for s in sources]
        self.bucket.objects[self.name] = [index for part in parts for index in part]
        self.bucket.copied += sum(len(part) for part in parts)  # chunk units written by this call
        self.bucket.calls.append(len(sources))


class SizedBucket:
    """Objects as lists of chunk indexes, so order and the bytes each call copies can be checked."""

    def __init__(self, count: int) -> None:
        self.objects: dict[str, list[int]] = {f"c{i:05d}": [i] for i in range(count)}
        self.calls: list[int] = []
        self.copied = 0

    def blob(self, name: str) -> SizedBlob:
        return SizedBlob(self, name)


def _compose(count: int) -> tuple[compose.ComposeResult, SizedBucket]:
    bucket = SizedBucket(count)
    result = compose.compose_tree(bucket, [f"c{i:05d}" for i in range(count)], "final",  # type: ignore[arg-type]
                                  "scratch-", "video/mp4")
    return result, bucket


@pytest.mark.parametrize("count", [*range(1, 100), 128, 205, 410, 512, 993, 1000, 1023, 1024])
def test_every_plan_keeps_the_order_and_the_32_source_limit_in_at_most_two_levels(count: int) -> None:
    result, bucket = _compose(count)
    assert bucket.objects["final"] == list(range(count))
    assert max(bucket.calls) <= FAN_IN and result.calls == len(bucket.calls) == sum(result.levels)
    assert result.levels == compose.compose_plan(count)
    assert len(result.levels) == (1 if count <= FAN_IN else 2)
    assert len(result.intermediates) == sum(result.levels[:-1])


@pytest.mark.parametrize("count", [33, 40, 64, 100, 205, 410, 1024])
def test_only_the_chunks_that_do_not_fit_in_the_final_call_are_composed_twice(count: int) -> None:
    result, bucket = _compose(count)
    groups = math.ceil((count - FAN_IN) / (FAN_IN - 1))
    twice = count - (FAN_IN - groups)  # chunks inside intermediates; the other FAN_IN - groups go in directly
    assert result.levels == [groups, 1]
    assert bucket.copied == count + twice
    full_tree = 2 * count  # groups of 32 at the first level, as before: every chunk composed twice
    assert bucket.copied < full_tree or count == FAN_IN * FAN_IN  # 1024 chunks leave no slot free


def test_examples_from_the_decision_record() -> None:
    assert compose.compose_plan(32) == [1]
    assert compose.compose_plan(33) == [1, 1]  # one intermediate of 2 chunks + 31 chunks
    assert compose.compose_plan(205) == [6, 1]  # 6 intermediates over 179 chunks + 26 chunks
    assert compose.compose_plan(410) == [13, 1]  # 13 over 391 + 19
    assert compose.compose_plan(1024) == [32, 1]
    assert compose.compose_plan(1025) == [33, 1, 1]  # beyond the API's 1024 chunks: still within the limit
    _, bucket = _compose(205)
    assert bucket.copied == 205 + 179


def test_no_intermediate_when_one_call_is_enough() -> None:
    result, bucket = _compose(32)
    assert result.intermediates == [] and bucket.calls == [32] and bucket.copied == 32
    with pytest.raises(ValueError):
        compose.compose_groups(0)
