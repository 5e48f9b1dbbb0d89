"""A small shop: an HTTP API (``targets.shop.api``) in front of a TCP key-value store (``targets.shop.store``)."""
