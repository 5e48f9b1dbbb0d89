"""Load for the shop API: mostly browsing, some checkouts.

Run by chaoskit's load driver (``load: {locustfile: targets/shop/locustfile.py}``), or by hand::

    locust -f targets/shop/locustfile.py --headless -u 10 -r 10 -t 30s --host http://127.0.0.1:8080

Requests are named ``/products``, ``/products/[id]`` and ``/checkout`` so SLOs can pick them out.
"""

from __future__ import annotations

import os
import random

from locust import FastHttpUser, between, task

# The ids the store is seeded with (targets/shop/store.py CATALOGUE); a test keeps the two lists equal.
PRODUCTS = ["mug", "tshirt", "sticker", "hoodie", "cap"]


class ShopUser(FastHttpUser):
    host = os.environ.get("SHOP_URL", "http://127.0.0.1:8080")
    wait_time = between(0.01, 0.05)

    @task(6)
    def browse(self) -> None:
        self.client.get("/products", name="/products")

    @task(3)
    def view_product(self) -> None:
        self.client.get(f"/products/{random.choice(PRODUCTS)}", name="/products/[id]")

    @task(1)
    def checkout(self) -> None:
        order = {"product": random.choice(PRODUCTS), "quantity": random.randint(1, 3)}
        self.client.post("/checkout", json=order, name="/checkout")
