"""A tiny HTTP/1.1 keep-alive server on 127.0.0.1 for load tests and benchmarks (asyncio, one process).

Paths: ``/`` and anything else -> 200; ``/err`` -> 500; ``/sleep/<ms>`` -> 200 after ``ms`` milliseconds;
``/_count`` -> the number of requests served so far (itself not counted); ``/_reset`` zeroes it.
Run: ``python tests/load/httptarget.py --port 8099`` (prints ``ready <port>`` once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
_ERR = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nerr"


class Counter:
    served = 0


def _plain(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s" % (len(body), body)


class HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.queue: asyncio.Queue[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            rest = self.buf[end + 4 :]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if len(rest) < length:
                return
            self.buf = rest[length:]
            path = head.split(b" ", 2)[1]
            self.respond(path)

    def respond(self, path: bytes) -> None:
        assert self.transport is not None
        if path == b"/_count":
            self.transport.write(_plain(str(Counter.served).encode()))
            return
        if path == b"/_reset":
            Counter.served = 0
            self.transport.write(_plain(b"0"))
            return
        Counter.served += 1
        if path.startswith(b"/sleep/"):
            if self.queue is None:
                self.queue = asyncio.Queue()
                asyncio.get_running_loop().create_task(self.writer())
            self.queue.put_nowait(path)
            return
        if self.queue is not None:  # keep responses in order behind a delayed one
            self.queue.put_nowait(path)
            return
        self.transport.write(_ERR if path == b"/err" else _OK)

    async def writer(self) -> None:
        assert self.queue is not None and self.transport is not None
        while not self.transport.is_closing():
            path = await self.queue.get()
            if path.startswith(b"/sleep/"):
                await asyncio.sleep(float(path[7:].split(b"?")[0]) / 1000.0)
            self.transport.write(_ERR if path == b"/err" else _OK)


async def serve(port: int, max_seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(HttpProtocol, "127.0.0.1", port, backlog=1024)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        async with asyncio.timeout(max_seconds):  # never outlive a forgotten test
            await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.port, args.max_seconds))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
