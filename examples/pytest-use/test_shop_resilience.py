"""chaoskit inside ordinary pytest tests: inject a fault around a block, assert what users would see."""

from __future__ import annotations

import json


def test_reads_survive_a_frozen_store(chaoskit, shop):  # type: ignore[no-untyped-def]
    assert shop.get("/products")[0] == 200  # warm the API's last-known data
    with chaoskit.fault("process.stop", target={"pid": shop.store.pid}):
        status, body = shop.get("/products")
        assert status == 200 and json.loads(body)["stale"] is True
        assert shop.get("/health")[0] == 503
    assert shop.get("/health")[0] == 200  # the store is back once the block ends


def test_checkout_fails_cleanly_while_the_store_is_frozen(chaoskit, shop):  # type: ignore[no-untyped-def]
    with chaoskit.fault("process.stop", target={"pid": shop.store.pid}):
        import urllib.request

        request = urllib.request.Request(shop.api + "/checkout", data=b'{"product": "mug"}', method="POST")
        try:
            urllib.request.urlopen(request, timeout=3)
            raise AssertionError("checkout cannot succeed without the store")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
