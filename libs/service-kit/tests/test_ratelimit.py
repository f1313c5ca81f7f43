"""The limiter against a Redis that is gone or hung (a local socket that accepts and never
answers): each check stays bounded, counting falls back to this process, and limits still hold."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from service_kit.errors import TooManyRequests
from service_kit.logging import Throttled
from service_kit.ratelimit import RateLimiter, parse_limits
from service_kit.redis import AutoPipeline, make_redis


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """A listening socket nobody reads: connects succeed, commands never get an answer."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"


@pytest.mark.parametrize("kind", ["hung", "refused"])
async def test_a_failing_redis_costs_one_bounded_wait_then_memory_counts(
    kind: str, hung_redis: str
) -> None:
    url = hung_redis if kind == "hung" else "redis://127.0.0.1:1/0"
    limiter = RateLimiter(AutoPipeline(make_redis(url, 0.1)))
    limits = parse_limits("3/minute")

    started = time.monotonic()
    for _ in range(3):
        await limiter.check(limits, "test", "client-a")
    with pytest.raises(TooManyRequests) as refused:
        await limiter.check(limits, "test", "client-a")
    elapsed = time.monotonic() - started

    # a bound, not a speed target: one attempt of at most 0.4 s, then memory until the back-off
    # ends (a Redis client without the bound would wait on the hung socket for good)
    assert elapsed < 2.0
    assert refused.value.status_code == 429
    assert 1 <= int((refused.value.headers or {})["Retry-After"]) <= 61
    await limiter.check(limits, "test", "client-b")  # another key has its own budget


async def test_refuse_if_exceeded_counts_nothing_and_count_refuses_nothing() -> None:
    limiter = RateLimiter(AutoPipeline(make_redis("redis://127.0.0.1:1/0")))
    limits = parse_limits("2/minute")
    for _ in range(5):
        await limiter.refuse_if_exceeded(limits, "test", "k")
    for _ in range(3):
        await limiter.count(limits, "test", "k")
    with pytest.raises(TooManyRequests):
        await limiter.refuse_if_exceeded(limits, "test", "k")


def test_throttled_logs_once_a_second_and_counts_the_rest() -> None:
    lines: list[dict[str, object]] = []

    class Logger:
        def info(self, event: str, **fields: object) -> None:
            lines.append({"event": event, **fields})

    throttled = Throttled(Logger(), "x.happened", seconds=60)
    for i in range(5):
        throttled(n=i)
    assert lines == [{"event": "x.happened", "suppressed": 0, "n": 0}]
    throttled._last -= 61  # a minute later
    throttled(n=5)
    assert lines[-1] == {"event": "x.happened", "suppressed": 4, "n": 5}


async def test_a_refused_key_is_refused_from_memory_until_its_window_resets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limiter = RateLimiter(
        AutoPipeline(make_redis("redis://127.0.0.1:1/0", 0.1))
    )  # counts in memory
    limits = parse_limits("2/minute")
    for _ in range(2):
        await limiter.check(limits, "test", "client-a")
    with pytest.raises(TooManyRequests) as first:
        await limiter.check(limits, "test", "client-a")

    asked: list[object] = []

    async def counters(item: object, scope: str, key: str, amount: int) -> int:
        asked.append(key)
        return 1  # the counters would let it through: they are not asked

    monkeypatch.setattr(limiter, "_add", counters)
    with pytest.raises(TooManyRequests) as again:
        await limiter.check(limits, "test", "client-a")
    assert asked == []
    assert 0 < again.value.retry_after_seconds <= first.value.retry_after_seconds
    await limiter.check(limits, "test", "client-b")  # other keys are counted as before
    assert len(asked) == 1

    later = time.time() + 61  # past the window's reset
    monkeypatch.setattr("service_kit.ratelimit.time.time", lambda: later)
    await limiter.check(limits, "test", "client-a")
    assert len(asked) == 2
