"""The GCRA rate limiter on a controlled monotonic clock."""

from __future__ import annotations

import pytest

from ephemail.services.ratelimit import Limit, RateLimited, RateLimiter


class ManualClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def limiter(
    clock: ManualClock, *, per_minute: int = 6, burst: int = 3, max_keys: int = 100_000
) -> RateLimiter:
    return RateLimiter(
        {"login": Limit(per_minute, burst), "api": Limit(600, 10)},
        monotonic=clock,
        max_keys=max_keys,
    )


def test_burst_then_limited_with_retry_after(clock: ManualClock) -> None:
    rl = limiter(clock)  # one event every 10 s, bursts of 3
    for _ in range(3):
        rl.hit("login", "ip:1.2.3.4")
    with pytest.raises(RateLimited) as raised:
        rl.hit("login", "ip:1.2.3.4")
    assert raised.value.bucket == "login"
    assert raised.value.retry_after == pytest.approx(10.0)
    clock.advance(9.9)
    with pytest.raises(RateLimited) as again:
        rl.hit("login", "ip:1.2.3.4")
    assert again.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    rl.hit("login", "ip:1.2.3.4")  # one more allowed after the interval
    with pytest.raises(RateLimited):
        rl.hit("login", "ip:1.2.3.4")


def test_steady_rate_is_sustainable(clock: ManualClock) -> None:
    rl = limiter(clock)
    for _ in range(100):
        rl.hit("login", "ip:1.2.3.4")
        clock.advance(10.0)


def test_full_allowance_returns_after_idle(clock: ManualClock) -> None:
    rl = limiter(clock)
    for _ in range(3):
        rl.hit("login", "k")
    clock.advance(30.0)
    for _ in range(3):
        rl.hit("login", "k")
    with pytest.raises(RateLimited):
        rl.hit("login", "k")


def test_check_does_not_count(clock: ManualClock) -> None:
    rl = limiter(clock)
    for _ in range(50):
        rl.check("login", "ip:1.2.3.4")
    for _ in range(3):
        rl.hit("login", "ip:1.2.3.4")
    with pytest.raises(RateLimited) as raised:
        rl.check("login", "ip:1.2.3.4")
    assert raised.value.retry_after == pytest.approx(10.0)


def test_keys_and_buckets_are_independent(clock: ManualClock) -> None:
    rl = limiter(clock)
    for _ in range(3):
        rl.hit("login", "ip:1.2.3.4")
    rl.hit("login", "ip:5.6.7.8")
    rl.hit("api", "ip:1.2.3.4")
    with pytest.raises(RateLimited):
        rl.hit("login", "ip:1.2.3.4")


def test_hit_on_several_keys_counts_nothing_when_one_is_over(clock: ManualClock) -> None:
    rl = limiter(clock)
    for _ in range(3):
        rl.hit("login", "email:a@example.com")
    with pytest.raises(RateLimited):
        rl.hit("login", "ip:1.2.3.4", "email:a@example.com")
    # The IP was not charged by the refused attempt: its whole burst is left.
    for _ in range(3):
        rl.hit("login", "ip:1.2.3.4")
    with pytest.raises(RateLimited):
        rl.hit("login", "ip:1.2.3.4")


def test_retry_after_is_the_longest_wait_of_the_keys(clock: ManualClock) -> None:
    rl = limiter(clock)
    for _ in range(3):
        rl.hit("login", "a")
    clock.advance(5.0)
    for _ in range(3):
        rl.hit("login", "b")
    with pytest.raises(RateLimited) as raised:
        rl.check("login", "a", "b")
    assert raised.value.retry_after == pytest.approx(10.0)


def test_same_key_twice_counts_once(clock: ManualClock) -> None:
    rl = limiter(clock)
    rl.hit("login", "k", "k")
    rl.hit("login", "k")
    rl.hit("login", "k")
    with pytest.raises(RateLimited):
        rl.hit("login", "k")


def test_burst_of_one_allows_one_per_interval(clock: ManualClock) -> None:
    rl = limiter(clock, per_minute=60, burst=1)
    rl.hit("login", "k")
    with pytest.raises(RateLimited) as raised:
        rl.hit("login", "k")
    assert raised.value.retry_after == pytest.approx(1.0)
    clock.advance(1.0)
    rl.hit("login", "k")


def test_disabled_never_limits(clock: ManualClock) -> None:
    rl = RateLimiter({"login": Limit(1, 1)}, monotonic=clock, enabled=False)
    for _ in range(100):
        rl.hit("login", "k")
        rl.check("login", "k")
        rl.hit("unconfigured", "k")


def test_unknown_bucket_is_a_programming_error(clock: ManualClock) -> None:
    rl = limiter(clock)
    with pytest.raises(KeyError, match="claim"):
        rl.hit("claim", "k")


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (1, 0), (-5, 3)])
def test_limits_must_be_positive(per_minute: int, burst: int) -> None:
    with pytest.raises(ValueError, match="per_minute"):
        Limit(per_minute, burst)


def test_full_allowances_are_forgotten_when_the_table_grows(clock: ManualClock) -> None:
    rl = limiter(clock)
    for n in range(1000):
        rl.hit("login", f"ip:{n}")
    assert rl.tracked_keys("login") == 1000
    clock.advance(11.0)  # every allowance is full again
    for n in range(30):
        rl.hit("login", f"fresh:{n}")
    # The table reached its first sweep size: the full allowances were dropped.
    assert rl.tracked_keys("login") <= 30


def test_full_allowances_are_forgotten_every_minute(clock: ManualClock) -> None:
    rl = limiter(clock)
    for n in range(5000):
        rl.hit("login", f"ip:{n}")
    clock.advance(61.0)
    rl.hit("login", "one more")
    assert rl.tracked_keys("login") == 1


def test_memory_is_bounded_under_key_rotation(clock: ManualClock) -> None:
    rl = limiter(clock, max_keys=50)
    for n in range(10_000):
        rl.hit("login", f"ip:{n}")  # no time passes: nothing is full again
    assert rl.tracked_keys("login") <= 51


def test_limited_key_survives_eviction(clock: ManualClock) -> None:
    """Past the key cap the keys furthest from a full allowance are kept, so an
    attacker cannot free their own key by rotating many others."""
    rl = limiter(clock, max_keys=50)
    for _ in range(3):
        rl.hit("login", "attacker")
    for n in range(1000):
        rl.hit("login", f"decoy:{n}")
    with pytest.raises(RateLimited):
        rl.hit("login", "attacker")
