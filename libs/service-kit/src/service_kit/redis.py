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
import math
from collections.abc import Sequence
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

Command = tuple[Any, ...]  # ("GET", key), ("INCRBY", key, 1) ...
_CONNECTION_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)


def make_redis(url: str, timeout_seconds: float = 0.1) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(NoBackoff(), retries=1),
    )


def pack(commands: Sequence[Command]) -> bytes:
    """The commands in Redis's protocol (RESP), as redis-py's `pack_commands` writes them, for
    the arguments it takes (bytes, str, int, float): in a few calls per argument, on the hot
    path, where redis-py's general encoder makes a dozen."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, str):
                arg = arg.encode()
            elif type(arg) is int:  # not a bool (an int too): refused below, as redis-py does
                arg = b"%d" % arg
            elif type(arg) is float:
                arg = repr(arg).encode()
            elif not isinstance(arg, bytes):
                raise TypeError(f"a Redis argument is bytes, str, int or float, not {type(arg)}")
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


class AutoPipeline:
    def __init__(self, redis: Redis, bound_seconds: float = 0.4) -> None:
        self.redis = redis
        self.bound = bound_seconds
        self._queued: list[tuple[Sequence[Command], asyncio.Future[list[Any]]]] = []
        self._sending: set[asyncio.Task[None]] = set()  # held until done (the loop holds none)
        self.batches = 0  # round trips made

    async def execute(self, *command: Any) -> Any:
        """One command's reply."""
        (reply,) = await self.submit([command])
        return reply

    def submit(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """`commands`, queued now for the next batch, where they run one after the other; the
        future gets their replies, or the first error among them (or the batch's). The futures
        of a batch are done in the order they were queued."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Any]] = loop.create_future()
        self._queued.append((commands, answer))
        if len(self._queued) == 1:  # the first of a batch sends it once the loop comes round
            loop.call_soon(self._start_sending)
        return answer

    def _start_sending(self) -> None:
        task = asyncio.ensure_future(self._send())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self) -> None:
        batch, self._queued = self._queued, []
        self.batches += 1
        commands = [command for own, _ in batch for command in own]
        try:
            async with asyncio.timeout(self.bound):
                replies = await self._round_trip(commands)
        except Exception as exc:  # every waiter gets the batch's failure, as it is
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        at = 0
        for own, answer in batch:
            mine, at = replies[at : at + len(own)], at + len(own)
            if answer.done():
                continue
            error = next((r for r in mine if isinstance(r, Exception)), None)
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(mine)

    async def _round_trip(self, commands: list[Command]) -> list[Any]:
        """The raw replies to `commands`, written at once on one pooled connection and read in
        order; an error reply is its exception, in its place. This is redis-py's pipeline
        without what the batch does not use (response callbacks, transactions, a timeout per
        reply: the batch has its bound). A connection that fails is dropped, and the batch
        sent once more on a new one, as the client's own retry would (`make_redis`)."""
        try:
            return await self._on_a_connection(commands)
        except _CONNECTION_ERRORS:
            return await self._on_a_connection(commands)

    async def _on_a_connection(self, commands: list[Command]) -> list[Any]:
        pool = self.redis.connection_pool
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_packed_command(pack(commands))
            replies: list[Any] = []
            for i in range(len(commands)):
                # the first reply waits for Redis (the socket timeout); the others follow it,
                # within the batch's bound, without a timer each
                timeout = None if i == 0 else math.inf
                try:
                    replies.append(await connection.read_response(timeout=timeout))
                except redis_errors.ResponseError as error:
                    replies.append(error)
            return replies
        except BaseException:  # failed or cancelled mid-way: the socket's state is unknown
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)

    async def close(self) -> None:
        await self.redis.aclose()
