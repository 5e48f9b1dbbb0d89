"""The embedded Toxiproxy-compatible proxy server, its client and its run-time for experiments.

Modules (imported on demand, so ``import chaoskit.proxy`` stays free):

- :mod:`chaoskit.proxy.server`: :class:`~chaoskit.proxy.server.ProxyServer` (API and proxies on one asyncio loop)
  and :class:`~chaoskit.proxy.server.ServerThread` (the same on a thread of its own);
- :mod:`chaoskit.proxy.client`: :class:`~chaoskit.proxy.client.ToxiproxyClient`, a typed client of the v2 API;
- :mod:`chaoskit.proxy.runtime`: :func:`~chaoskit.proxy.runtime.open_proxies` for the runner;
- :mod:`chaoskit.proxy.cli`: ``chaoskit proxy serve``.

See docs/proxy.md.
"""
