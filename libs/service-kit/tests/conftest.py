from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support import client_for, kit_app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(kit_app()) as c:
        yield c
