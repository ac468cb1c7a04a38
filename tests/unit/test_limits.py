"""The token bucket behind server.rate_limit."""

from __future__ import annotations

from controlplane.middleware.limits import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_rate_then_says_when_to_retry() -> None:
    clock = Clock()
    bucket = TokenBucket(60, clock=clock)  # one a second, bursts of 60
    assert all(bucket.take() == 0.0 for _ in range(60))
    wait = bucket.take()
    assert 0.99 <= wait <= 1.0
    clock.now += 1.0
    assert bucket.take() == 0.0
    assert bucket.take() > 0


def test_bucket_refills_only_to_capacity() -> None:
    clock = Clock()
    bucket = TokenBucket(6, burst=2, clock=clock)
    clock.now += 3600
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    assert abs(bucket.take() - 10.0) < 1e-9  # 6 a minute: one every 10 s
