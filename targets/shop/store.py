"""The shop's backing store: an in-memory key-value server speaking a one-line-per-command protocol over TCP.

Run it with ``python -m targets.shop.store --port 7001``. Each request is one line, words separated by single
spaces; each answer is one line::

    PING                 -> PONG
    GET key              -> OK value | NIL
    SET key value...     -> OK                     (the value is the rest of the line)
    INCR key [n]         -> OK new                 (a missing key counts as 0)
    DECR key [n]         -> OK new | ERR insufficient current    (never goes below zero)
    MGET key...          -> OK ["value", null, ...]             (JSON)
    KEYS prefix          -> OK ["key", ...]                     (JSON, sorted)
    anything else        -> ERR reason

The store starts seeded with the catalogue below: ``product:<id>`` holds a JSON record and ``stock:<id>`` a
count. It is single-threaded, so every command is atomic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys

log = logging.getLogger("shop.store")

CATALOGUE: dict[str, tuple[str, float]] = {
    "mug": ("Chaos mug", 12.0),
    "tshirt": ("Blast-radius T-shirt", 24.0),
    "sticker": ("Steady-state sticker", 2.5),
    "hoodie": ("Rollback hoodie", 45.0),
    "cap": ("Game-day cap", 18.0),
}
MAX_LINE = 64 * 1024


def seed(stock: int) -> dict[str, str]:
    """The store's initial contents: every product with ``stock`` items."""
    data: dict[str, str] = {}
    for pid, (name, price) in CATALOGUE.items():
        data[f"product:{pid}"] = json.dumps({"id": pid, "name": name, "price": price})
        data[f"stock:{pid}"] = str(stock)
    return data


class Store:
    """The command interpreter over one dict; :meth:`execute` turns a request line into an answer line."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    def execute(self, line: str) -> str:
        command, _, rest = line.partition(" ")
        handler = getattr(self, f"_cmd_{command.upper()}", None) if command.isalpha() else None
        if handler is None:
            return f"ERR unknown command {command[:32]!r}"
        try:
            return str(handler(rest))
        except ValueError as exc:
            return f"ERR {exc}"

    def _cmd_PING(self, rest: str) -> str:
        return "PONG"

    def _cmd_GET(self, rest: str) -> str:
        value = self.data.get(_key(rest))
        return "NIL" if value is None else f"OK {value}"

    def _cmd_SET(self, rest: str) -> str:
        key, sep, value = rest.partition(" ")
        if not sep:
            raise ValueError("usage: SET key value")
        self.data[_key(key)] = value
        return "OK"

    def _cmd_INCR(self, rest: str) -> str:
        return self._add(rest, +1)

    def _cmd_DECR(self, rest: str) -> str:
        return self._add(rest, -1)

    def _cmd_MGET(self, rest: str) -> str:
        keys = rest.split()
        if not keys:
            raise ValueError("usage: MGET key...")
        return "OK " + json.dumps([self.data.get(k) for k in keys])

    def _cmd_KEYS(self, rest: str) -> str:
        prefix = rest.strip()
        return "OK " + json.dumps(sorted(k for k in self.data if k.startswith(prefix)))

    def _add(self, rest: str, sign: int) -> str:
        key, _, amount_text = rest.partition(" ")
        amount = _int(amount_text or "1", "amount")
        if amount < 0:
            raise ValueError("the amount must be >= 0")
        current = _int(self.data.get(_key(key), "0"), f"value of {key}")
        new = current + sign * amount
        if new < 0:
            return f"ERR insufficient {current}"
        self.data[key] = str(new)
        return f"OK {new}"


def _key(text: str) -> str:
    if not text or " " in text:
        raise ValueError("expected one key")
    return text


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{what} is not an integer") from None


async def serve_client(store: Store, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer = writer.get_extra_info("peername")
    log.debug("connection from %s", peer)
    try:
        while line := await reader.readline():
            if not line.endswith(b"\n"):
                break  # the client went away mid-line
            answer = store.execute(line.decode("utf-8", "replace").rstrip("\r\n"))
            writer.write(answer.encode() + b"\n")
            await writer.drain()
    except (ConnectionError, asyncio.LimitOverrunError, ValueError):
        pass  # a line longer than MAX_LINE or a peer that vanished: drop the connection
    finally:
        writer.close()
        log.debug("connection from %s closed", peer)


async def serve(host: str, port: int, stock: int) -> int:
    store = Store(seed(stock))
    clients: set[asyncio.Task[None]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        clients.add(task)
        try:
            await serve_client(store, reader, writer)
        finally:
            clients.discard(task)

    try:
        server = await asyncio.start_server(on_client, host, port, limit=MAX_LINE)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc.strerror or exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("store listening on %s:%s with %d products", host, port, len(CATALOGUE))
    await stop.wait()
    log.info("store stopping")
    server.close()
    for task in list(clients):
        task.cancel()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            await asyncio.gather(*clients, return_exceptions=True)
            await server.wait_closed()
    log.info("store stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m targets.shop.store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("SHOP_STORE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SHOP_STORE_PORT", "7001")))
    parser.add_argument(
        "--stock",
        type=int,
        default=int(os.environ.get("SHOP_STOCK", "1000000")),
        help="items of each product at start (default: 1000000, enough for long load runs)",
    )
    parser.add_argument("--log-level", default=os.environ.get("SHOP_LOG_LEVEL", "info"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s shop-store %(levelname)s %(message)s"
    )
    return asyncio.run(serve(args.host, args.port, args.stock))


if __name__ == "__main__":
    sys.exit(main())
