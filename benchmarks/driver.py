"""An open-loop load driver: POST /orders/ at a fixed rate, each request sent on time whatever
the earlier ones are doing, and the moment each 201 arrived.

HTTP/1.1 over keep-alive asyncio streams, parsed no further than the status line, the
Content-Length and the body: an httpx client spends so much CPU per request (several ms with
threads, more on one event loop) that at 200/s it lags, sends late, and stamps its 201s late.
Only for the bench's own servers, which answer with a Content-Length.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


class ClosedBeforeAnswer(Exception):
    """The connection was closed before a byte of the answer came back."""


class Connections:
    """Idle keep-alive connections to one server; a new one when none is idle."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """One request; on a kept-alive connection the server closed while it was idle
        (uvicorn's keep-alive timeout: nothing of the request was read), once more on a new
        one, as HTTP clients do."""
        if self.idle:
            reader, writer = self.idle.pop()
            try:
                return await self._exchange(reader, writer, raw)
            except ClosedBeforeAnswer:
                writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(reader, writer, raw)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
    ) -> tuple[int, bytes]:
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            raise ClosedBeforeAnswer from exc
        except ConnectionResetError as exc:
            raise ClosedBeforeAnswer from exc
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return status, body

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


def post_request(url: str, authorization: str, body: str) -> bytes:
    parts = urlsplit(url)
    data = body.encode()
    return (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: {authorization}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


@dataclass
class Sent:
    created: dict[str, float] = field(default_factory=dict)  # order id -> epoch time of its 201
    latencies: list[float] = field(default_factory=list)  # seconds, each 201's
    statuses: Counter[str] = field(default_factory=Counter)  # every answer, or the error
    rate: float = 0.0  # requests / time to the last answer


def send_orders(url: str, authorization: str, body: str, rate: float, seconds: float) -> Sent:
    """POST `body` to `url` at `rate` per second for `seconds`."""
    sent = Sent()
    raw = post_request(url, authorization, body)
    count = int(rate * seconds)

    async def send() -> float:
        pool = Connections(url)

        async def create() -> None:
            started = time.perf_counter()
            try:
                status, answer = await pool.request(raw)
            except (OSError, asyncio.IncompleteReadError, ClosedBeforeAnswer) as exc:
                sent.statuses[type(exc).__name__] += 1
                return
            sent.statuses[str(status)] += 1
            if status == 201:
                sent.created[json.loads(answer)["id"]] = time.time()
                sent.latencies.append(time.perf_counter() - started)

        start = time.monotonic()
        tasks = []
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(create()))
        await asyncio.gather(*tasks)
        pool.close()
        return time.monotonic() - start

    sent.rate = count / asyncio.run(send())
    return sent
