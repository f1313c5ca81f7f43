"""Black-box fixtures: the stack, an HTTP client, two users and the services' databases."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.clients import Sql, Stack, User, register_and_login


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `last` run after all the others, in their order."""
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack.from_settings()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture(scope="session")
def alice(stack: Stack, http: httpx.Client) -> User:
    return register_and_login(stack, http, "alice")


@pytest.fixture(scope="session")
def bob(stack: Stack, http: httpx.Client) -> User:
    return register_and_login(stack, http, "bob")


@pytest.fixture(scope="session")
def orders_db(stack: Stack) -> Sql:
    return Sql(stack.database("ORDERS"))


@pytest.fixture(scope="session")
def processor_db(stack: Stack) -> Sql:
    return Sql(stack.database("PROCESSOR"))
