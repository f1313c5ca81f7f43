"""Sessions for orders-service: the shared kit's `get_session` is the one place that commits.

Use cases that must act once their change is durable (refresh the cache after a PATCH) register
an after-commit hook; `api.deps.get_session` runs the hooks right after the kit's commit and
before the response is sent. A rolled-back session runs none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from service_kit.db import get_session, make_sessionmaker

__all__ = ["after_commit", "get_session", "make_sessionmaker", "run_after_commit"]

AfterCommit = Callable[[], Awaitable[None]]
_HOOKS = "orders.after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `hook` once this session's transaction has committed."""
    session.info.setdefault(_HOOKS, []).append(hook)


async def run_after_commit(session: AsyncSession) -> None:
    hooks: list[AfterCommit] = session.info.pop(_HOOKS, [])
    for hook in hooks:
        await hook()
