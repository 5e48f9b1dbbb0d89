"""Locust load for chaoskit, streamed as 250 ms windows (see docs/load.md).

- :mod:`chaoskit.load.driver`: the runner's side (``LocustLoad``, ``LoadPlan``); never imports locust or gevent.
- :mod:`chaoskit.load.child`: ``python -m chaoskit.load.child``, one Locust environment per process.
- :mod:`chaoskit.load.protocol`: the JSON-lines protocol between them (``LoadError`` is in :mod:`chaoskit.errors`).
- :mod:`chaoskit.load.collector`: the Locust-side window aggregation (shipped to distributed workers as is).
- :mod:`chaoskit.load.merge`, :mod:`chaoskit.load.shapes`: merging reports into windows; levels over time.
- :mod:`chaoskit.load.slots`: a Locust master's merging of its workers' reports per slot.
- :mod:`chaoskit.load.plugin`: the built-in ``locust`` load generator kind.
- :mod:`chaoskit.load.locustshape`: a locustfile's own ``LoadTestShape``, split over children.
- :mod:`chaoskit.load.worker`, :mod:`chaoskit.load.cli`: ``chaoskit load worker`` for distributed load.
- :mod:`chaoskit.load.listen`, :mod:`chaoskit.load.remote`: ``chaoskit load child --listen`` (load children on
  other hosts, over TCP) and the driver's side of them.

Nothing is imported here, so that starting a load child does not import the driver.
"""
