"""The embedded Toxiproxy-compatible server: the HTTP API and every proxy on one asyncio event loop.

Run it in an event loop you own (:class:`ProxyServer`), or on a thread of its own (:class:`ServerThread`), which is
how experiments embed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path
from typing import Any

from chaoskit.proxy import jsonio
from chaoskit.proxy.api import Api
from chaoskit.proxy.http import serve_connection
from chaoskit.proxy.proxy import ApiError, Proxy, release_memory


class ConfigError(ValueError):
    """A ``--config`` file could not be read or applied."""


class ProxyServer:
    """The API server and its proxies. ``await start()``, then ``await close()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8474, *, metrics: bool = False) -> None:
        self.host = host
        self.port = port
        self.metrics = metrics
        self._api: Api | None = None
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def api(self) -> Api:
        assert self._api is not None, "the server is not started"
        return self._api

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def proxies(self) -> dict[str, Proxy]:
        return self.api.proxies

    async def start(self) -> None:
        """Listen for API requests (raises OSError, e.g. when the port is in use)."""
        self._api = Api(asyncio.get_running_loop(), metrics=self.metrics)
        api = self._api

        async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._clients.add(writer)
            try:
                await serve_connection(reader, writer, api.handle)
            finally:
                self._clients.discard(writer)

        self._server = await asyncio.start_server(client, self.host, self.port, limit=1 << 16)
        self.port = self._server.sockets[0].getsockname()[1]
        # Load malloc_trim now, not at the first idle after a wave (a one-time growth that looked like a leak).
        release_memory()

    async def populate(self, entries: Any) -> list[Proxy]:
        """Create proxies as ``POST /populate`` does (raises ConfigError)."""
        done: list[Proxy] = []
        try:
            await self.api._populate(entries, done)
        except ApiError as exc:
            raise ConfigError(exc.message) from None
        return done

    async def load_config(self, path: str | Path) -> list[Proxy]:
        """Create the proxies of a Toxiproxy ``-config`` file: a JSON array like the ``/populate`` body."""
        try:
            body = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            entries = jsonio.decode(body)
        except ApiError as exc:
            raise ConfigError(f"{path}: {exc.message.removeprefix('bad request body: ')}") from None
        try:
            return await self.populate(entries)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    async def close(self) -> None:
        """Stop every proxy (closing their connections) and the API."""
        if self._api is not None:
            for proxy in self._api.proxies.values():
                proxy.stop()
        if self._server is not None:
            self._server.close()
            for writer in list(self._clients):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        await asyncio.sleep(0)  # let transports deliver connection_lost


class ServerThread:
    """A :class:`ProxyServer` on its own thread and event loop, as experiments embed it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, metrics: bool = False) -> None:
        self.server = ProxyServer(host, port, metrics=metrics)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout: float = 10.0) -> str:
        """Start the thread and return the API URL once it listens (raises OSError if it cannot)."""
        self._thread = threading.Thread(target=self._main, name="chaoskit-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise OSError("the embedded proxy server did not start in time")
        if self._error is not None:
            raise self._error
        return self.url

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every proxy and the API, and join the thread. Idempotent."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
