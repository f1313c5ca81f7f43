"""Redis for the services: a client that fails fast (short socket timeouts and one retry without
back-off; redis-py would otherwise retry several times with back-off on every call), and
automatic pipelining for the hot path.

`AutoPipeline`: the commands that requests send while the event loop is busy go to Redis
together, in one pipeline, and each request awaits its own replies. Every command still runs
and answers as if it had its own round trip; a loaded server pays one round trip per batch
instead of one per command. A batch is bounded in time as a whole (name resolution and
connecting included): on a hung Redis each waiter fails after the bound, never later.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

Command = tuple[Any, ...]  # ("GET", key), ("INCRBY", key, 1) ...


def make_redis(url: str, timeout_seconds: float = 0.1) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), retries=1),
    )


class AutoPipeline:
    def __init__(self, redis: Redis, bound_seconds: float = 0.4) -> None:
        self.redis = redis
        self.bound = bound_seconds
        self._queued: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # held until done (the loop holds none)
        self.batches = 0  # round trips made

    async def execute(self, *command: Any) -> Any:
        """One command's reply."""
        (reply,) = await self.execute_many([command])
        return reply

    async def execute_many(self, commands: Sequence[Command]) -> list[Any]:
        """The replies to `commands`, which run one after the other, in the next batch; raises
        the first error among them (or the batch's)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Any]] = loop.create_future()
        self._queued.append((commands, answer))
        if len(self._queued) == 1:  # the first of a batch sends it once the loop comes round
            loop.call_soon(self._start_sending)
        return await answer

    def _start_sending(self) -> None:
        task = asyncio.ensure_future(self._send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self) -> None:
        batch, self._queued = self._queued, []
        self.batches += 1
        pipe = self.redis.pipeline(transaction=False)
        for commands, _ in batch:
            for command in commands:
                pipe.execute_command(*command)
        try:
            async with asyncio.timeout(self.bound):
                replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # every waiter gets the batch's failure, as it is
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        at = 0
        for commands, answer in batch:
            own, at = replies[at : at + len(commands)], at + len(commands)
            if answer.done():
                continue
            error = next((r for r in own if isinstance(r, Exception)), None)
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(own)

    async def close(self) -> None:
        await self.redis.aclose()
