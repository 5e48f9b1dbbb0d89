"""The shop API: a JSON HTTP service in front of the store (``targets.shop.store``), reached over TCP.

Run it with ``python -m targets.shop.api --port 8080 --store 127.0.0.1:7001``. Every flag can also be set by an
environment variable (the flag wins); see ``--help`` and ``targets/shop/README.md``.

    GET  /health               200 when the store answers PING within --store-timeout, else 503 saying why;
                               /health?deep=0 only says the API process is alive
    GET  /products             every product with its stock
    GET  /products/<id>        one product (404 when the store does not know it)
    POST /checkout             {"product": id, "quantity": n} takes n items off the stock

When the store fails, reads are answered from the last data seen if --stale-on-error is on (marked
``"stale": true`` and ``X-Cache: stale``), else 503; a checkout always needs the store, so it fails with 503.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from targets.shop.httpserver import HttpServer, Request, Response
from targets.shop.storeclient import StoreClient, StoreReply, StoreUnavailable

log = logging.getLogger("shop.api")

MAX_QUANTITY = 100
_PRODUCT_PATH = re.compile(r"^/products/(?P<id>[A-Za-z0-9_-]{1,64})$")


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    store_host: str
    store_port: int
    store_timeout: float
    retries: int
    cache_ttl: float
    stale_on_error: bool
    pool_size: int


@dataclass
class Cached:
    at: float
    value: Any


class NotFound(Exception):
    pass


class Shop:
    """The request handler: routes, validation, and reads through a cache that can serve stale data."""

    def __init__(self, config: Config, store: StoreClient) -> None:
        self.config = config
        self.store = store
        self._catalogue: Cached | None = None
        self._products: dict[str, Cached] = {}

    async def handle(self, request: Request) -> Response:
        if request.path == "/health":
            return await self._only(request, "GET", self.health)
        if request.path == "/products":
            return await self._only(request, "GET", self.products)
        if m := _PRODUCT_PATH.match(request.path):
            pid = m.group("id")
            return await self._only(request, "GET", lambda r: self.product(pid))
        if request.path == "/checkout":
            return await self._only(request, "POST", self.checkout)
        return Response(404, {"error": f"no route {request.path}"})

    async def _only(self, request: Request, method: str, handler: Any) -> Response:
        if request.method != method:
            return Response(405, {"error": f"use {method}"}, {"Allow": method})
        try:
            response: Response = await handler(request)
        except StoreUnavailable as exc:
            return Response(503, {"error": str(exc)})
        except NotFound as exc:
            return Response(404, {"error": str(exc)})
        return response

    # --------------------------------------------------------------------------------------------- routes

    async def health(self, request: Request) -> Response:
        if request.query.get("deep", "1") in ("0", "false", "no"):
            return Response(200, {"status": "alive"})
        started = time.perf_counter()
        try:
            await self.store.ping()
        except StoreUnavailable as exc:
            return Response(503, {"status": "unhealthy", "store": str(exc)})
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        return Response(200, {"status": "ok", "store": "ok", "store_latency_ms": latency_ms})

    async def products(self, request: Request) -> Response:
        fresh = self._fresh(self._catalogue)
        if fresh is not None:
            return _read({"products": fresh}, "hit")
        try:
            products = await self._load_catalogue()
        except StoreUnavailable:
            if self.config.stale_on_error and self._catalogue is not None:
                return _read({"products": self._catalogue.value}, "stale")
            raise
        return _read({"products": products}, "miss")

    async def product(self, pid: str) -> Response:
        cached = self._products.get(pid)
        fresh = self._fresh(cached)
        if fresh is not None:
            return _read({"product": fresh}, "hit")
        try:
            record, stock = await self.store.mget([f"product:{pid}", f"stock:{pid}"])
        except StoreUnavailable:
            if self.config.stale_on_error and cached is not None:
                return _read({"product": cached.value}, "stale")
            raise
        if record is None:
            raise NotFound(f"no product {pid!r}")
        product = self._remember(record, stock)
        return _read({"product": product}, "miss")

    async def checkout(self, request: Request) -> Response:
        try:
            pid, quantity = _order(request.body)
        except ValueError as exc:
            return Response(400, {"error": str(exc)})
        cached = self._products.get(pid)
        record = self._fresh(cached)
        if record is None:
            raw = await self.store.get(f"product:{pid}")
            if raw is None:
                raise NotFound(f"no product {pid!r}")
            record = json.loads(raw)
        try:
            remaining = await self.store.decr(f"stock:{pid}", quantity)
        except StoreReply as exc:
            if str(exc).startswith("insufficient"):
                left = str(exc).split()[-1]
                return Response(409, {"error": f"only {left} of {pid!r} left", "product": pid})
            raise
        order = {
            "order": uuid.uuid4().hex[:12],
            "product": pid,
            "quantity": quantity,
            "total": round(float(record["price"]) * quantity, 2),
            "remaining": remaining,
        }
        return Response(200, order)

    # ---------------------------------------------------------------------------------------------- cache

    async def _load_catalogue(self) -> list[dict[str, Any]]:
        keys = await self.store.keys("product:")
        pids = [key.split(":", 1)[1] for key in keys]
        values = await self.store.mget(keys + [f"stock:{pid}" for pid in pids])
        products = [
            self._remember(record, stock)
            for record, stock in zip(values[: len(pids)], values[len(pids) :], strict=True)
            if record is not None
        ]
        self._catalogue = Cached(time.monotonic(), products)
        return products

    def _remember(self, record: str, stock: str | None) -> dict[str, Any]:
        product: dict[str, Any] = {**json.loads(record), "stock": int(stock or 0)}
        self._products[product["id"]] = Cached(time.monotonic(), product)
        return product

    def _fresh(self, cached: Cached | None) -> Any:
        """The cached value while it is younger than --cache-ttl, else None."""
        if cached is None or self.config.cache_ttl <= 0:
            return None
        return cached.value if time.monotonic() - cached.at < self.config.cache_ttl else None


def _read(payload: dict[str, Any], cache: str) -> Response:
    return Response(200, {**payload, "stale": cache == "stale"}, {"X-Cache": cache})


def _order(body: bytes) -> tuple[str, int]:
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError('the body must be JSON such as {"product": "mug", "quantity": 1}') from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object with product and quantity")
    pid, quantity = data.get("product"), data.get("quantity", 1)
    if not isinstance(pid, str) or not _PRODUCT_PATH.match(f"/products/{pid}"):
        raise ValueError('product must be a product id such as "mug"')
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError(f"quantity must be a whole number from 1 to {MAX_QUANTITY}")
    unknown = set(data) - {"product", "quantity"}
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
    return pid, quantity


# ---------------------------------------------------------------------------------------------- command line


def parse_seconds(text: str) -> float:
    """``"250ms"``, ``"0.25s"``, ``"2m"`` or ``"0.25"`` -> seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration such as 250ms, 0.25s or 0.25, got {text!r}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[m.group(2)]


def parse_store(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT such as 127.0.0.1:7001, got {text!r}")
    return host, int(port)


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> tuple[Config, str]:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="python -m targets.shop.api", description="The shop API (see README.md).")
    p.add_argument("--host", default=env("SHOP_API_HOST", "127.0.0.1"), help="listen address [SHOP_API_HOST]")
    p.add_argument("--port", type=int, default=int(env("SHOP_API_PORT", "8080")), help="[SHOP_API_PORT]")
    p.add_argument(
        "--store", type=parse_store, default=env("SHOP_STORE", "127.0.0.1:7001"), help="HOST:PORT [SHOP_STORE]"
    )
    p.add_argument(
        "--store-timeout",
        type=parse_seconds,
        default=env("SHOP_STORE_TIMEOUT", "0.25"),
        help="limit on each attempt to reach the store, e.g. 250ms [SHOP_STORE_TIMEOUT]",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=int(env("SHOP_RETRIES", "1")),
        help="extra attempts for reads after a failed one (never for a sent checkout) [SHOP_RETRIES]",
    )
    p.add_argument(
        "--cache-ttl",
        type=parse_seconds,
        default=env("SHOP_CACHE_TTL", "0"),
        help="serve product reads from memory for this long without asking the store (0: off) [SHOP_CACHE_TTL]",
    )
    p.add_argument(
        "--stale-on-error",
        action=argparse.BooleanOptionalAction,
        default=_env_flag("SHOP_STALE_ON_ERROR", False),
        help="when the store fails, answer reads with the last data seen [SHOP_STALE_ON_ERROR=1]",
    )
    p.add_argument(
        "--pool-size", type=int, default=int(env("SHOP_POOL_SIZE", "16")), help="idle store connections kept"
    )
    p.add_argument("--log-level", default=env("SHOP_LOG_LEVEL", "info"), help="debug logs every request")
    a = p.parse_args(argv)
    if a.retries < 0 or a.pool_size < 0:
        p.error("--retries and --pool-size must be >= 0")
    if a.store_timeout <= 0:
        p.error("--store-timeout must be > 0")
    store_host, store_port = a.store
    config = Config(
        a.host, a.port, store_host, store_port, a.store_timeout, a.retries, a.cache_ttl, a.stale_on_error, a.pool_size
    )
    return config, a.log_level


async def serve(config: Config) -> int:
    store = StoreClient(
        config.store_host,
        config.store_port,
        timeout=config.store_timeout,
        retries=config.retries,
        pool_size=config.pool_size,
    )
    server = HttpServer(Shop(config, store).handle)
    try:
        await server.start(config.host, config.port)
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", config.host, config.port, exc.strerror or exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "shop api listening on %s:%s (store %s:%s, store timeout %gs, retries %d, cache ttl %gs, stale on error %s)",
        config.host,
        config.port,
        config.store_host,
        config.store_port,
        config.store_timeout,
        config.retries,
        config.cache_ttl,
        "on" if config.stale_on_error else "off",
    )
    await stop.wait()
    log.info("shop api stopping")
    await server.stop(grace=5.0)
    await store.close()
    log.info("shop api stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    config, level = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(asctime)s shop-api %(levelname)s %(message)s")
    return asyncio.run(serve(config))


if __name__ == "__main__":
    sys.exit(main())
