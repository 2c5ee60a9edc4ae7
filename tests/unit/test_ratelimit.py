"""The shared token bucket, on an injected clock: no test here sleeps."""

from __future__ import annotations

from pansync.ratelimit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_average_rate_holds_over_many_chunks() -> None:
    t = FakeTime()
    bucket = TokenBucket(2 * 1024 * 1024, clock=t.clock, sleep=t.sleep)
    for _ in range(64):  # 64 MiB in 1 MiB chunks at 2 MiB/s
        bucket.consume(1024 * 1024)
    assert 31.0 <= t.now <= 32.0  # the first second's burst is free


def test_two_callers_share_one_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, clock=t.clock, sleep=t.sleep)
    for _ in range(10):
        bucket.consume(500)  # caller A
        bucket.consume(500)  # caller B
    assert 9.0 <= t.now <= 10.0


def test_idle_time_refills_only_up_to_one_second() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, clock=t.clock, sleep=t.sleep)
    t.now = 100.0
    bucket.consume(3000)
    assert t.now == 102.0
