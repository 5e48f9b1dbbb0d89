"""The demo shop as real processes on free ports: its API, its store protocol, and how it behaves when the
store stops answering (SIGSTOP), goes away, and comes back."""

from __future__ import annotations

import ast
import http.client
import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from targets.shop.store import CATALOGUE

REPO = Path(__file__).resolve().parents[2]
STORE_TIMEOUT = 0.25
RETRIES = 1
STOCK = 50
SLACK = 2.0  # a loaded 2-core machine may add this much scheduling delay to any answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Service:
    name: str
    port: int
    log: Path
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *self.argv], cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        """SIGTERM (after SIGCONT, in case a test left it stopped), then SIGKILL if it lingers."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    elapsed: float


def request(port: int, method: str, path: str, body: Any = None, *, raw: bytes | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    started = time.monotonic()
    try:
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    headers = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, headers, json.loads(data), time.monotonic() - started)


def answers(port: int, path: str, status: int) -> bool:
    try:
        return request(port, "GET", path).status == status
    except OSError:
        return False


@dataclass
class Shop:
    store: Service
    apis: dict[str, Service] = field(default_factory=dict)

    def api(self, name: str = "api") -> int:
        return self.apis[name].port

    def start_api(self, name: str, *flags: str) -> Service:
        port = free_port()
        api = Service(
            name,
            port,
            self.store.log.with_name(f"{name}.log"),
            ["targets.shop.api", "--port", str(port), "--store", f"127.0.0.1:{self.store.port}", *flags],
        )
        self.apis[name] = api
        api.start()
        wait_until(lambda: answers(port, "/health?deep=0", 200), f"{name} to listen")
        return api


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    store_port = free_port()
    store = Service(
        "store",
        store_port,
        tmp_path / "store.log",
        ["targets.shop.store", "--port", str(store_port), "--stock", str(STOCK)],
    )
    shop = Shop(store)
    try:
        store.start()
        wait_until(lambda: store_answers(store_port), "the store to answer PING")
        shop.start_api("api", "--store-timeout", f"{STORE_TIMEOUT}", "--retries", str(RETRIES), "--stale-on-error")
        wait_until(lambda: answers(shop.api(), "/health", 200), "the api to be healthy")
        yield shop
    except BaseException:
        for service in (store, *shop.apis.values()):
            print(f"--- {service.name} log ---\n{service.logs()}", file=sys.stderr)
        raise
    finally:
        for api in shop.apis.values():
            api.stop()
        store.stop()


def store_exchange(port: int, *lines: str) -> list[str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        out = []
        reader = sock.makefile("rb")
        for line in lines:
            sock.sendall(line.encode() + b"\n")
            out.append(reader.readline().decode().rstrip("\n"))
        return out


def store_answers(port: int) -> bool:
    try:
        return store_exchange(port, "PING") == ["PONG"]
    except OSError:
        return False


# ------------------------------------------------------------------------------------------------ the store


def test_store_protocol(shop: Shop) -> None:
    answers_ = store_exchange(
        shop.store.port,
        "PING",
        "GET stock:mug",
        "SET greeting hello there",
        "GET greeting",
        "GET missing",
        "INCR visits",
        "INCR visits 5",
        "DECR stock:cap 10",
        f"DECR stock:cap {STOCK}",
        "MGET stock:cap missing",
        "KEYS product:",
        "INCR greeting",
        "FLY away",
    )
    assert answers_ == [
        "PONG",
        f"OK {STOCK}",
        "OK",
        "OK hello there",
        "NIL",
        "OK 1",
        "OK 6",
        f"OK {STOCK - 10}",
        f"ERR insufficient {STOCK - 10}",
        f'OK ["{STOCK - 10}", null]',
        "OK " + json.dumps(sorted(f"product:{pid}" for pid in CATALOGUE)),
        "ERR value of greeting is not an integer",
        "ERR unknown command 'FLY'",
    ]


# ----------------------------------------------------------------------------------------------- the api


def test_health_products_and_checkout(shop: Shop) -> None:
    port = shop.api()
    health = request(port, "GET", "/health")
    assert health.status == 200 and health.body["store"] == "ok"
    assert request(port, "GET", "/health?deep=0").body == {"status": "alive"}

    products = request(port, "GET", "/products")
    assert products.status == 200 and products.body["stale"] is False
    assert sorted(p["id"] for p in products.body["products"]) == sorted(CATALOGUE)
    assert all(p["stock"] == STOCK for p in products.body["products"])

    mug = request(port, "GET", "/products/mug")
    assert mug.status == 200 and mug.body["product"] == {"id": "mug", "name": "Chaos mug", "price": 12.0, "stock": 50}

    order = request(port, "POST", "/checkout", {"product": "mug", "quantity": 2})
    assert order.status == 200
    assert order.body["total"] == 24.0 and order.body["remaining"] == STOCK - 2
    assert request(port, "GET", "/products/mug").body["product"]["stock"] == STOCK - 2


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", "/products/unicorn", None, 404, "no product 'unicorn'"),
        ("GET", "/nowhere", None, 404, "no route /nowhere"),
        ("POST", "/products", None, 405, "use GET"),
        ("GET", "/checkout", None, 405, "use POST"),
        ("POST", "/checkout", {"product": "unicorn", "quantity": 1}, 404, "no product 'unicorn'"),
        ("POST", "/checkout", {"product": "mug", "quantity": 0}, 400, "quantity must be a whole number"),
        ("POST", "/checkout", {"product": "mug", "quantity": "2"}, 400, "quantity must be a whole number"),
        ("POST", "/checkout", {"product": "mug", "quantity": 1, "coupon": "x"}, 400, "unknown field(s): coupon"),
        ("POST", "/checkout", ["mug"], 400, "must be a JSON object"),
        ("POST", "/checkout", {"quantity": 1}, 400, "product must be a product id"),
        ("POST", "/checkout", {"product": "mug", "quantity": STOCK + 1}, 409, f"only {STOCK} of 'mug' left"),
    ],
)
def test_bad_requests(shop: Shop, method: str, path: str, body: Any, status: int, error: str) -> None:
    answer = request(shop.api(), method, path, body)
    assert answer.status == status
    assert error in answer.body["error"]


def test_a_body_that_is_not_json(shop: Shop) -> None:
    answer = request(shop.api(), "POST", "/checkout", raw=b"product=mug")
    assert answer.status == 400 and "must be JSON" in answer.body["error"]


# ----------------------------------------------------------------------------------------- store failures


def test_stopped_store_reads_stale_checkout_fails_then_recovers(shop: Shop) -> None:
    port = shop.api()
    before = request(port, "GET", "/products")
    assert before.status == 200 and request(port, "GET", "/products/mug").status == 200

    shop.store.signal(signal.SIGSTOP)
    try:
        worst = (1 + RETRIES) * STORE_TIMEOUT + SLACK
        products = request(port, "GET", "/products")
        assert products.status == 200
        assert products.body == {"products": before.body["products"], "stale": True}
        assert products.headers["x-cache"] == "stale"
        assert STORE_TIMEOUT <= products.elapsed < worst

        mug = request(port, "GET", "/products/mug")
        assert mug.status == 200 and mug.body["stale"] is True and mug.elapsed < worst

        order = request(port, "POST", "/checkout", {"product": "mug", "quantity": 1})
        assert order.status == 503 and order.elapsed < worst
        assert order.body["error"] == f"store unavailable: no answer within {STORE_TIMEOUT:g}s"

        health = request(port, "GET", "/health")
        assert health.status == 503 and health.elapsed < STORE_TIMEOUT + SLACK
        assert health.body == {
            "status": "unhealthy",
            "store": f"store unavailable: no answer within {STORE_TIMEOUT:g}s",
        }
        assert request(port, "GET", "/health?deep=0").status == 200
        # A product never seen before has no stale copy.
        assert request(port, "GET", "/products/unicorn").status == 503
    finally:
        shop.store.signal(signal.SIGCONT)

    wait_until(lambda: answers(port, "/health", 200), "the api to be healthy again", timeout=20)
    assert request(port, "POST", "/checkout", {"product": "mug", "quantity": 1}).status == 200
    fresh = request(port, "GET", "/products")
    assert fresh.status == 200 and fresh.body["stale"] is False and fresh.headers["x-cache"] == "miss"
    assert "unavailable" in shop.apis["api"].logs() and "answers again" in shop.apis["api"].logs()


def test_without_stale_reads_fail_fast(shop: Shop) -> None:
    strict = shop.start_api("strict", "--store-timeout", f"{STORE_TIMEOUT}", "--retries", "0", "--no-stale-on-error")
    assert request(strict.port, "GET", "/products").status == 200
    shop.store.signal(signal.SIGSTOP)
    try:
        answer = request(strict.port, "GET", "/products")
        assert answer.status == 503 and answer.body["error"].startswith("store unavailable")
        assert STORE_TIMEOUT <= answer.elapsed < STORE_TIMEOUT + SLACK
    finally:
        shop.store.signal(signal.SIGCONT)


def test_cache_ttl_serves_reads_without_the_store(shop: Shop) -> None:
    cached = shop.start_api("cached", "--cache-ttl", "60s", "--no-stale-on-error")
    assert request(cached.port, "GET", "/products").headers["x-cache"] == "miss"
    shop.store.signal(signal.SIGSTOP)
    try:
        hit = request(cached.port, "GET", "/products")
        assert hit.status == 200 and hit.headers["x-cache"] == "hit" and hit.body["stale"] is False
        assert hit.elapsed < STORE_TIMEOUT  # never asked the store
    finally:
        shop.store.signal(signal.SIGCONT)


def test_store_killed_and_restarted(shop: Shop) -> None:
    port = shop.api()
    assert request(port, "GET", "/products").status == 200  # leaves pooled connections behind
    shop.store.signal(signal.SIGKILL)
    assert shop.store.proc is not None
    shop.store.proc.wait(10)
    health = request(port, "GET", "/health")
    assert health.status == 503 and health.body["store"] == "store unavailable: connection refused"
    assert request(port, "POST", "/checkout", {"product": "mug", "quantity": 1}).status == 503

    shop.store.start()  # a fresh store on the same port: the stock is back to its seed
    wait_until(lambda: store_answers(shop.store.port), "the restarted store")
    assert request(port, "GET", "/health").status == 200
    assert request(port, "GET", "/products/mug").body["product"]["stock"] == STOCK


def test_sigterm_stops_both_cleanly(shop: Shop) -> None:
    assert shop.apis["api"].stop() == 0
    assert shop.store.stop() == 0
    assert "shop api stopped" in shop.apis["api"].logs()
    assert "store stopped" in shop.store.logs()


# ---------------------------------------------------------------------------------------------- the load


def test_locustfile_products_are_the_store_catalogue() -> None:
    tree = ast.parse((REPO / "targets/shop/locustfile.py").read_text())
    products = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PRODUCTS" for t in node.targets)
    )
    assert sorted(products) == sorted(CATALOGUE)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed")
def test_locust_drives_the_shop_without_failures(shop: Shop, tmp_path: Path) -> None:
    # Enough stock that a few seconds of checkouts never run a product out.
    store_exchange(shop.store.port, *(f"SET stock:{pid} 1000000" for pid in CATALOGUE))
    stats = tmp_path / "stats.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", "targets/shop/locustfile.py", "--headless",
            "-u", "4", "-r", "4", "-t", "3s", "--stop-timeout", "2", "--only-summary",
            "--host", f"http://127.0.0.1:{shop.api()}", "--json-file", str(tmp_path / "stats"),
        ],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(stats.read_text())
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {"/products", "/products/[id]", "/checkout"}
    assert all(row["num_requests"] > 0 for row in rows)
    assert sum(row["num_failures"] for row in rows) == 0
