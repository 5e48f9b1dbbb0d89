"""A thin, typed client for the Toxiproxy v2 HTTP API (the embedded server or a real Toxiproxy).

Every call has a timeout; updates use PATCH; attributes are sent as integers; errors are parsed from the
``{"error", "status"}`` body whatever its Content-Type::

    ToxiproxyError            any failed call (.status, .message, .method, .path, .url)
     ├── ApiUnavailable       no answer: refused, timed out, not HTTP (.status is None)
     ├── BadRequest           400
     ├── NotFound             404 (proxy or toxic)
     └── Conflict             409 (proxy or toxic already exists)

The client is synchronous (``http.client``) and thread-safe (a connection per call); async callers use
``asyncio.to_thread``.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from chaoskit.errors import ChaoskitError

Stream = Literal["upstream", "downstream"]
DEFAULT_URL = "http://127.0.0.1:8474"


class ToxiproxyError(ChaoskitError):
    """A Toxiproxy API call failed."""

    def __init__(
        self, message: str, *, status: int | None = None, method: str = "", path: str = "", url: str = ""
    ) -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.url = url
        where = f"{method} {url}{path}".strip()
        super().__init__(f"{where}: {message}" + (f" ({status})" if status else "") if where else message)


class ApiUnavailable(ToxiproxyError):
    """The API did not answer (connection refused, timeout, or not an HTTP server)."""


class BadRequest(ToxiproxyError):
    """400: the request was refused (bad body, missing field, invalid stream or toxic type)."""


class NotFound(ToxiproxyError):
    """404: no such proxy or toxic."""


class Conflict(ToxiproxyError):
    """409: a proxy or toxic of that name already exists."""


_BY_STATUS: dict[int, type[ToxiproxyError]] = {400: BadRequest, 404: NotFound, 409: Conflict}


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(
            name=str(data["name"]),
            type=str(data["type"]),
            stream=str(data["stream"]),
            toxicity=float(data.get("toxicity", 1.0)),
            attributes={str(k): int(v) for k, v in (data.get("attributes") or {}).items()},
        )


@dataclass(frozen=True)
class Proxy:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[Toxic, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Proxy:
        return cls(
            name=str(data["name"]),
            listen=str(data["listen"]),
            upstream=str(data["upstream"]),
            enabled=bool(data["enabled"]),
            toxics=tuple(Toxic.from_json(t) for t in data.get("toxics") or ()),
        )


def int_attributes(attributes: Mapping[str, Any]) -> dict[str, int]:
    """Attributes as the JSON integers Toxiproxy requires (``100.0`` is refused by the server)."""
    out: dict[str, int] = {}
    for key, value in attributes.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise ValueError(f"toxic attribute {key!r} must be an integer, got {value!r}")
        out[key] = int(value)
    return out


class ToxiproxyClient:
    """Calls one Toxiproxy API at ``url`` with ``timeout`` seconds per call."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 5.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected a Toxiproxy API URL such as {DEFAULT_URL}, got {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.url!r})"

    # ------------------------------------------------------------------------------------------- transport

    def _call(self, method: str, path: str, body: Any = None, *, ok: Iterable[int] = (200,)) -> Any:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout)
        headers = {"User-Agent": "chaoskit", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, self._prefix + path, body=payload, headers=headers)
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:
            reason = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else str(exc) or type(exc).__name__
            raise ApiUnavailable(
                f"Toxiproxy API not reachable: {reason}", method=method, path=path, url=self.url
            ) from None
        finally:
            conn.close()
        if status in ok:
            if not raw:
                return None
            try:
                return json.loads(raw)
            except ValueError:
                return raw.decode("utf-8", "replace")
        message = raw.decode("utf-8", "replace").strip() or f"HTTP {status}"
        try:
            data = json.loads(raw)
            if isinstance(data, dict) and isinstance(data.get("error"), str):
                message = data["error"]
        except ValueError:
            pass
        raise _BY_STATUS.get(status, ToxiproxyError)(message, status=status, method=method, path=path, url=self.url)

    # --------------------------------------------------------------------------------------------- proxies

    def version(self) -> str:
        """The server's version; accepts the JSON form (2.7+) and the plain-text one (<= 2.6)."""
        data = self._call("GET", "/version")
        if isinstance(data, dict):
            return str(data.get("version", ""))
        text = str(data).strip()
        if text.startswith("{") and '"version"' in text:  # 2.6.0 sent invalid JSON
            return text.split('"version"', 1)[1].strip(' :"}\n')
        return text

    def proxies(self) -> dict[str, Proxy]:
        data = self._call("GET", "/proxies")
        return {name: Proxy.from_json(p) for name, p in (data or {}).items()}

    def proxy(self, name: str) -> Proxy:
        return Proxy.from_json(self._call("GET", f"/proxies/{_seg(name)}"))

    def create_proxy(self, name: str, upstream: str, listen: str | None = None, *, enabled: bool = True) -> Proxy:
        body: dict[str, Any] = {"name": name, "upstream": upstream, "enabled": enabled}
        if listen is not None:
            body["listen"] = listen
        return Proxy.from_json(self._call("POST", "/proxies", body, ok=(201,)))

    def update_proxy(
        self, name: str, *, listen: str | None = None, upstream: str | None = None, enabled: bool | None = None
    ) -> Proxy:
        body = {k: v for k, v in (("listen", listen), ("upstream", upstream), ("enabled", enabled)) if v is not None}
        return Proxy.from_json(self._call("PATCH", f"/proxies/{_seg(name)}", body))

    def enable(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=True)

    def disable(self, name: str) -> Proxy:
        return self.update_proxy(name, enabled=False)

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{_seg(name)}", ok=(204,))

    def populate(self, proxies: Iterable[Mapping[str, Any]]) -> list[Proxy]:
        data = self._call("POST", "/populate", [dict(p) for p in proxies], ok=(201,))
        return [Proxy.from_json(p) for p in (data or {}).get("proxies") or ()]

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._call("POST", "/reset", ok=(204,))

    # ---------------------------------------------------------------------------------------------- toxics

    def toxics(self, proxy: str) -> list[Toxic]:
        return [Toxic.from_json(t) for t in self._call("GET", f"/proxies/{_seg(proxy)}/toxics") or ()]

    def toxic(self, proxy: str, name: str) -> Toxic:
        return Toxic.from_json(self._call("GET", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}"))

    def add_toxic(
        self,
        proxy: str,
        type: str,
        *,
        name: str | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        attributes: Mapping[str, Any] | None = None,
    ) -> Toxic:
        body: dict[str, Any] = {"type": type, "stream": stream, "toxicity": toxicity}
        if name is not None:
            body["name"] = name
        body["attributes"] = int_attributes(attributes or {})
        return Toxic.from_json(self._call("POST", f"/proxies/{_seg(proxy)}/toxics", body))

    def update_toxic(
        self, proxy: str, name: str, *, attributes: Mapping[str, Any] | None = None, toxicity: float | None = None
    ) -> Toxic:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = int_attributes(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return Toxic.from_json(self._call("PATCH", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{_seg(proxy)}/toxics/{_seg(name)}", ok=(204,))


def _seg(name: str) -> str:
    return quote(name, safe="")
