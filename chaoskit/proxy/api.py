"""The Toxiproxy v2 HTTP API (2.12.0): routes, handlers, status codes and error bodies.

Every claim of ``reference/toxiproxy-api.md`` §1 is implemented here, with the deviations listed in
``docs/proxy.md`` (inputs that crash the real server get a 400).
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any
from urllib.parse import unquote

from chaoskit.proxy import jsonio, lateness
from chaoskit.proxy.http import Request, Response
from chaoskit.proxy.proxy import (
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    PROXY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_EXISTS,
    TOXIC_NOT_FOUND,
    ApiError,
    Proxy,
    bad_request,
    missing_field,
    toxic_json,
)
from chaoskit.proxy.toxics import TOXIC_TYPES, AttributeError_, Toxic, float32

VERSION = "2.12.0"
_PROXY_FIELDS = {"name": "string", "listen": "string", "upstream": "string", "enabled": "bool"}
_TOXIC_FIELDS = {"name": "string", "type": "string", "stream": "string", "toxicity": "float32", "attributes": "object"}
_UPDATE_FIELDS = {"attributes": "object", "toxicity": "float32"}
_XID = "0123456789abcdefghijklmnopqrstuv"


def _request_id() -> str:
    return "".join(_XID[b & 31] for b in secrets.token_bytes(20))


def ok(status: int, body: Any) -> Response:
    return Response(status, jsonio.encode(body).encode(), [("Content-Type", "application/json")])


def error(exc: ApiError) -> Response:
    body = jsonio.encode({"error": exc.message, "status": exc.status}) + "\n"
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("X-Content-Type-Options", "nosniff")]
    return Response(exc.status, body.encode(), headers)


class Api:
    """The API state: proxies by name, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, metrics: bool = False) -> None:
        self.loop = loop
        self.proxies: dict[str, Proxy] = {}
        self.metrics = metrics
        # Handlers await between checking and changing (binding a listener): one request at a time, as Go's
        # collection lock does.
        self._lock = asyncio.Lock()

    # --------------------------------------------------------------------------------------------- routing

    def _route(self, segments: list[str]) -> tuple[dict[str, Any], tuple[str, ...]] | None:
        """The handlers by method for a path, with the path's variables."""
        match segments:
            case ["proxies"]:
                return {"GET": self.list_proxies, "POST": self.create_proxy}, ()
            case ["populate"]:
                return {"POST": self.populate}, ()
            case ["reset"]:
                return {"POST": self.reset}, ()
            case ["version"]:
                return {"GET": self.version}, ()
            case ["metrics"] if self.metrics:
                return {"GET": self.metrics_text}, ()
            case ["proxies", p] if p:
                update = self.update_proxy
                return {"GET": self.get_proxy, "POST": update, "PATCH": update, "DELETE": self.delete_proxy}, (p,)
            case ["proxies", p, "toxics"] if p:
                return {"GET": self.list_toxics, "POST": self.create_toxic}, (p,)
            case ["proxies", p, "toxics", t] if p and t:
                toxic_update = self.update_toxic
                handlers = {"GET": self.get_toxic, "POST": toxic_update, "PATCH": toxic_update}
                return {**handlers, "DELETE": self.delete_toxic}, (p, t)
        return None

    async def handle(self, request: Request) -> Response:
        target = request.target
        if target.startswith(("http://", "https://")):  # absolute-form: keep the path after the authority
            slash = target.find("/", target.find("//") + 2)
            authority = target[: slash if slash >= 0 else len(target)]
            if authority.count("[") != authority.count("]"):
                return Response(400, b"400 Bad Request: invalid URL", [("Content-Type", "text/plain")])
            target = target[slash:] if slash >= 0 else "/"
        path = target.split("?", 1)[0]
        if "%" in path:
            try:
                path = unquote(path, errors="strict")
            except UnicodeDecodeError:
                path = unquote(path, errors="replace")
            if _bad_escape(target.split("?", 1)[0]):
                return Response(400, b"400 Bad Request: invalid URL escape", [("Content-Type", "text/plain")])
        not_found = Response(404, b"404 page not found\n", [("Content-Type", "text/plain; charset=utf-8")])
        if not path.startswith("/"):
            return not_found
        route = self._route(path[1:].split("/"))
        if route is None:
            return not_found
        handlers, args = route
        handler = handlers.get(request.method)
        if handler is None:
            return Response(405)
        request_id = ("X-Toxiproxy-Request-Id", _request_id())
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            response = Response(403, b"User agent not allowed\n", [("Content-Type", "text/plain; charset=utf-8")])
        else:
            try:
                async with self._lock:
                    response = await handler(request, *args)
            except ApiError as exc:
                response = error(exc)
        response.headers.append(request_id)
        return response

    def _proxy(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    # --------------------------------------------------------------------------------------------- proxies

    async def list_proxies(self, request: Request) -> Response:
        return ok(200, {name: self.proxies[name].to_json() for name in sorted(self.proxies)})

    async def create_proxy(self, request: Request) -> Response:
        fields = jsonio.read_struct(jsonio.decode(request.body), "Proxy", _PROXY_FIELDS)
        name, upstream = fields.get("name", ""), fields.get("upstream", "")
        if not name:
            raise missing_field("name")
        if not upstream:
            raise missing_field("upstream")
        if name in self.proxies:
            raise PROXY_EXISTS
        proxy = Proxy(self.loop, name, fields.get("listen", ""), upstream)
        if fields.get("enabled", True):
            await proxy.start()
        self.proxies[name] = proxy
        return ok(201, proxy.to_json())

    async def get_proxy(self, request: Request, name: str) -> Response:
        return ok(200, self._proxy(name).to_json())

    async def update_proxy(self, request: Request, name: str) -> Response:
        proxy = self._proxy(name)
        fields = jsonio.read_struct(jsonio.decode(request.body), "Proxy", _PROXY_FIELDS)
        listen, upstream = fields.get("listen", proxy.listen), fields.get("upstream", proxy.upstream)
        await proxy.update(listen, upstream, fields.get("enabled", proxy.enabled))
        return ok(200, proxy.to_json())

    async def delete_proxy(self, request: Request, name: str) -> Response:
        self._proxy(name).stop()
        del self.proxies[name]
        return Response(204)

    async def populate(self, request: Request) -> Response:
        done: list[Proxy] = []
        try:
            await self._populate(jsonio.decode(request.body), done)
        except ApiError as exc:
            body = {"error": exc.message, "status": exc.status, "proxies": [p.to_json() for p in done] or None}
            return ok(exc.status, body)
        return ok(201, {"proxies": [p.to_json() for p in done] or None})

    async def _populate(self, value: Any, done: list[Proxy]) -> None:
        if value is not None and (not isinstance(value, list) or isinstance(value, jsonio.JsonObject)):
            raise jsonio.type_error(value, "value of type []main.Proxy", "[]main.Proxy")
        entries = [jsonio.read_struct(item, "Proxy", _PROXY_FIELDS) for item in value or []]
        for i, entry in enumerate(entries, start=1):
            if not entry.get("name"):
                raise missing_field(f"name at proxy {i}")
            if not entry.get("upstream"):
                raise missing_field(f"upstream at proxy {i}")
        for entry in entries:
            name, listen, upstream = entry["name"], entry.get("listen", ""), entry["upstream"]
            existing = self.proxies.get(name)
            if existing is not None:
                if not existing.differs(listen, upstream):
                    done.append(existing)
                    continue
                existing.stop()
            proxy = Proxy(self.loop, name, listen, upstream)
            if entry.get("enabled", True):
                await proxy.start()
            self.proxies[name] = proxy
            done.append(proxy)

    async def reset(self, request: Request) -> Response:
        for proxy in list(self.proxies.values()):
            await proxy.start()
            proxy.toxics.reset()
        return Response(204)

    async def version(self, request: Request) -> Response:
        body = f'{{"version": "{VERSION}"}}\n'.encode()
        return Response(200, body, [("Content-Type", "application/json;charset=utf-8")])

    async def metrics_text(self, request: Request) -> Response:
        lines = []
        for counter in ("received", "sent"):
            metric = f"toxiproxy_proxy_{counter}_bytes_total"
            lines += [f"# HELP {metric} The total number of bytes {counter}.", f"# TYPE {metric} counter"]
            for name in sorted(self.proxies):
                proxy = self.proxies[name]
                totals = proxy.received if counter == "received" else proxy.sent
                for direction in ("downstream", "upstream"):
                    labels = _labels(direction=direction, listener=proxy.listen, proxy=name, upstream=proxy.upstream)
                    lines.append(f"{metric}{{{labels}}} {totals[direction]}")
        lines += [
            f"# HELP {lateness.METRIC} How late the latency toxic released data against its due time.",
            f"# TYPE {lateness.METRIC} histogram",
        ]
        for name in sorted(self.proxies):
            for direction, histogram in sorted(self.proxies[name].lateness.items()):
                lines += histogram.prometheus(_labels(direction=direction, proxy=name))
        body = ("\n".join(lines) + "\n").encode()
        return Response(200, body, [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])

    # ---------------------------------------------------------------------------------------------- toxics

    async def list_toxics(self, request: Request, name: str) -> Response:
        return ok(200, [toxic_json(t) for t in self._proxy(name).toxics.all()])

    async def create_toxic(self, request: Request, name: str) -> Response:
        proxy = self._proxy(name)
        value = jsonio.decode(request.body)
        fields = jsonio.read_struct(value, "ToxicWrapper", _TOXIC_FIELDS)
        stream = fields.get("stream", "downstream")
        if stream.lower() not in ("upstream", "downstream"):
            raise INVALID_STREAM
        toxic_type = TOXIC_TYPES.get(fields.get("type", ""))
        toxic_name = fields.get("name") or f"{fields.get('type', '')}_{stream}"
        if toxic_type is None:
            raise INVALID_TOXIC_TYPE
        if proxy.toxics.find(toxic_name) is not None:
            raise TOXIC_EXISTS
        attrs = _attributes(toxic_type.name, toxic_type.attributes, fields.get("attributes"), {})
        toxicity = fields.get("toxicity", 1.0)
        toxic = Toxic(toxic_name, toxic_type, stream, stream.lower() == "upstream", float32(toxicity), attrs)
        _check(toxic)
        proxy.toxics.add(toxic)
        return ok(200, toxic_json(toxic))

    def _toxic(self, proxy_name: str, toxic_name: str) -> tuple[Proxy, Toxic]:
        proxy = self._proxy(proxy_name)
        toxic = proxy.toxics.find(toxic_name)
        if toxic is None:
            raise TOXIC_NOT_FOUND
        return proxy, toxic

    async def get_toxic(self, request: Request, proxy_name: str, toxic_name: str) -> Response:
        return ok(200, toxic_json(self._toxic(proxy_name, toxic_name)[1]))

    async def update_toxic(self, request: Request, proxy_name: str, toxic_name: str) -> Response:
        proxy, toxic = self._toxic(proxy_name, toxic_name)
        fields = jsonio.read_struct(jsonio.decode(request.body), "", _UPDATE_FIELDS)
        attrs = _attributes(toxic.type.name, toxic.type.attributes, fields.get("attributes"), toxic.attrs)
        candidate = Toxic(toxic.name, toxic.type, toxic.stream, toxic.upstream, toxic.toxicity, attrs)
        _check(candidate)
        toxic.attrs = attrs
        if "toxicity" in fields:
            toxic.toxicity = float32(fields["toxicity"])
        proxy.toxics.updated(toxic)
        return ok(200, toxic_json(toxic))

    async def delete_toxic(self, request: Request, proxy_name: str, toxic_name: str) -> Response:
        proxy, toxic = self._toxic(proxy_name, toxic_name)
        proxy.toxics.remove(toxic)
        return Response(204)


def _bad_escape(path: str) -> bool:
    i = path.find("%")
    while i >= 0:
        digits = path[i + 1 : i + 3]
        if len(digits) < 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            return True
        i = path.find("%", i + 3)
    return False


def _attributes(type_name: str, names: tuple[str, ...], value: Any, current: dict[str, int]) -> dict[str, int]:
    """``current`` with the fields of the JSON ``attributes`` object merged in, type-checked as Go int64."""
    struct = f"{type_name.title().replace('_', '')}Toxic"
    updated = dict(current)
    updated.update(jsonio.read_struct(value, struct, dict.fromkeys(names, "int64")))
    return updated


def _check(toxic: Toxic) -> None:
    if toxic.type.check is not None:
        try:
            toxic.type.check(toxic.attrs)
        except AttributeError_ as exc:
            raise bad_request(str(exc)) from None


def _labels(**values: str) -> str:
    """Prometheus label pairs, values escaped as the text format wants (backslash, double quote, newline)."""
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for k, v in values.items()}
    return ",".join(f'{k}="{v}"' for k, v in escaped.items())
