"""The back-off formula: exponential, capped, jittered within the ceiling's upper half."""

from __future__ import annotations

import pytest

from service_kit.backoff import backoff_ceiling, backoff_delay


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(-3, 0.5), (0, 0.5), (1, 1.0), (2, 2.0), (4, 8.0), (5, 10.0), (1_000, 10.0)],
)
def test_the_ceiling_doubles_per_attempt_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert backoff_ceiling(attempt, base=0.5, cap=10.0) == ceiling


def test_a_huge_attempt_number_neither_overflows_nor_passes_the_cap() -> None:
    assert backoff_ceiling(10**9, base=1.0, cap=1e9) == 1024.0


@pytest.mark.parametrize("attempt", [0, 1, 3, 8, 50])
def test_the_delay_stays_within_the_upper_half_of_the_ceiling(attempt: int) -> None:
    ceiling = backoff_ceiling(attempt, base=0.25, cap=5.0)
    delays = [backoff_delay(attempt, base=0.25, cap=5.0) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert len(set(delays)) > 1  # jittered, not one fixed wait
