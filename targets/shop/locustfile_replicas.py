"""Load for the shop API running as several replicas (the compose stack): a client that retries on another replica.

Each logical request tries the replicas in a random order, moving on after a refused connection, a timeout or a
5xx, and counts as one request: it succeeds when any replica answered, and its latency includes the failed
attempts. So one replica down costs a little latency, all of them down costs availability. Requests are named
``/products`` and ``/products/[id]``, as in ``locustfile.py``.

    SHOP_REPLICAS            comma-separated base URLs (default: the compose stack's http://127.0.0.1:28081,...:28082)
    SHOP_REPLICA_TIMEOUT     seconds per attempt (default 1.0: above the API's own 2 x 250 ms store
                             attempts, so a stale answer arrives in time)

Every replica URL must be on 127.0.0.1 (the compose stack publishes its ports there).
"""

from __future__ import annotations

import http.client
import os
import random
import time
from typing import Any
from urllib.parse import urlsplit

from locust import User, between, task

PRODUCTS = ["mug", "tshirt", "sticker", "hoodie", "cap"]
REPLICAS = os.environ.get("SHOP_REPLICAS", "http://127.0.0.1:28081,http://127.0.0.1:28082")
TIMEOUT = float(os.environ.get("SHOP_REPLICA_TIMEOUT", "1.0"))


def _replicas() -> list[tuple[str, int]]:
    out = []
    for url in REPLICAS.split(","):
        parts = urlsplit(url.strip())
        if parts.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError(f"replica {url!r} is not on 127.0.0.1")
        out.append((parts.hostname, parts.port or 80))
    return out


class RetryingShopUser(User):
    """Browses the shop through whichever replica answers."""

    wait_time = between(0.01, 0.05)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.replicas = _replicas()
        self.connections: dict[tuple[str, int], http.client.HTTPConnection] = {}

    def _attempt(self, replica: tuple[str, int], path: str) -> int:
        conn = self.connections.get(replica)
        if conn is None:
            conn = self.connections[replica] = http.client.HTTPConnection(*replica, timeout=TIMEOUT)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            del self.connections[replica]
            raise
        if response.status >= 500:
            raise http.client.HTTPException(f"{response.status} from {replica[0]}:{replica[1]}")
        return len(body)

    def get(self, path: str, name: str) -> None:
        began, start_time = time.perf_counter(), time.time()
        error: Exception | None = None
        length = 0
        for replica in random.sample(self.replicas, len(self.replicas)):
            try:
                length = self._attempt(replica, path)
                error = None
                break
            except (OSError, http.client.HTTPException) as exc:
                error = exc
        self.environment.events.request.fire(
            request_type="GET", name=name, response_time=(time.perf_counter() - began) * 1000,
            response_length=length, exception=error, context={}, start_time=start_time, url=path,
        )

    @task(6)
    def browse(self) -> None:
        self.get("/products", "/products")

    @task(3)
    def view_product(self) -> None:
        self.get(f"/products/{random.choice(PRODUCTS)}", "/products/[id]")
