"""A short chaos run (`make chaos orders=300`): faults on a schedule while careful clients place
orders; nothing lost, no work done twice, no key made two orders, no 500."""

from __future__ import annotations

import pytest

from tests.chaos import run
from tests.clients import Stack


@pytest.mark.last
@pytest.mark.timeout(900)
def test_a_short_chaos_run_loses_nothing_and_does_nothing_twice(stack: Stack) -> None:
    outcome = run(stack, orders=300, clients=16)
    assert outcome.orders_accepted == 300, outcome.table()
    assert outcome.passed, outcome.table()
