"""The experiment models of the stock probe kinds: ``http``, ``tcp``, ``command`` and ``python``.

They live apart from the probes themselves (:mod:`chaoskit.probes.http` and the others, which re-export them), so
registering the kinds and validating an experiment import neither asyncio nor ssl: :mod:`chaoskit.probes.builtin`
imports a probe's module only when a run creates that probe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from chaoskit.experiment.model import ProbeSpec, parse_host_port
from chaoskit.experiment.units import Duration

# ---------------------------------------------------------------------------------------------------------------- http


@dataclass(frozen=True)
class Url:
    """The parts of an ``http://`` or ``https://`` URL a request needs."""

    tls: bool
    host: str
    port: int
    target: str
    host_header: str


def parse_url(url: str) -> Url:
    """Split ``url``; ValueError naming what is wrong (scheme, host, port) otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"the URL {url!r} has no host")
    if any(c in url for c in "\r\n\t "):
        raise ValueError(f"the URL {url!r} contains whitespace")
    tls = parts.scheme == "https"
    default_port = 443 if tls else 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rpartition("@")[2]
    return Url(tls, parts.hostname, port or default_port, target, host_header)


def check_header(name: str, value: str) -> None:
    if not name or any(c in name for c in ":\r\n \t") or any(c in value for c in "\r\n"):
        raise ValueError(f"invalid header {name!r}: no ':', spaces or newlines allowed")


class HttpProbeSpec(ProbeSpec):
    """One HTTP request; ok when the status matches, the body holds ``contains`` and it came fast enough."""

    type: Literal["http"]
    url: str = Field(description="http:// or https:// URL to request.")
    method: str = Field("GET", pattern=r"^[A-Za-z]+$", description="HTTP method.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    body: str | None = Field(None, description="Request body, sent as UTF-8.")
    status: int | list[int] | None = Field(None, description="Expected status code(s); default: any 2xx or 3xx.")
    contains: str | None = Field(None, description="Text the response body must contain.")
    max_latency: Duration | None = Field(None, description="A slower answer counts as a failure.")
    verify: bool = Field(True, description="Verify the server's TLS certificate (https:// only).")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parse_url(value)
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return value.upper()

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            check_header(name, header_value)
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: int | list[int] | None) -> int | list[int] | None:
        codes = [value] if isinstance(value, int) else value or []
        if isinstance(value, list) and not value:
            raise ValueError("give at least one status code, or leave status out to accept any 2xx/3xx")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"a status code lies between 100 and 599, got {code}")
        return value


# ----------------------------------------------------------------------------------------------------------------- tcp


class TcpProbeSpec(ProbeSpec):
    """Open a TCP connection; ok when it opens (and, with ``expect``, the answer holds that text)."""

    type: Literal["tcp"]
    address: str = Field(description="HOST:PORT to connect to, e.g. 127.0.0.1:7001.")
    send: str | None = Field(None, description='Text sent once connected (UTF-8), e.g. "PING\\n".')
    expect: str | None = Field(None, description="Text the answer must contain before the timeout.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        parse_host_port(value)
        return value


# ------------------------------------------------------------------------------------------------------------- command


class CommandProbeSpec(ProbeSpec):
    """Run a command; ok when it exits with ``exit_code`` in time and prints ``stdout_contains``."""

    type: Literal["command"]
    command: list[str] | str = Field(
        description="argv list, run without a shell; a single string only together with shell: true."
    )
    shell: bool = Field(False, description="Run the string command through /bin/sh -c.")
    exit_code: int = Field(0, description="The exit code that means healthy.")
    stdout_contains: str | None = Field(None, description="Text the standard output must contain.")
    cwd: str | None = Field(None, description="Working directory; default: chaoskit's.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")

    @model_validator(mode="after")
    def _shell_or_argv(self) -> CommandProbeSpec:
        if self.shell and not isinstance(self.command, str):
            raise ValueError("with shell: true, give the command as one string, e.g. 'curl -sf URL | grep ok'")
        if not self.shell and isinstance(self.command, str):
            raise ValueError(
                "give the command as an argv list such as [curl, -sf, URL]; "
                "to run a string through /bin/sh, set shell: true"
            )
        if isinstance(self.command, list) and not self.command:
            raise ValueError("the command list is empty")
        return self


# -------------------------------------------------------------------------------------------------------------- python


_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
FUNCTION_PATTERN = rf"^{_DOTTED}:{_DOTTED}$"


class PythonProbeSpec(ProbeSpec):
    """Call a Python function; ok when it returns None or a truthy value, failed on falsy or an exception."""

    type: Literal["python"]
    function: str = Field(
        description="module:function, e.g. checks.shop:stock_is_consistent.",
        json_schema_extra={"pattern": FUNCTION_PATTERN},
    )
    args: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the call.")

    @field_validator("function")
    @classmethod
    def _function(cls, value: str) -> str:
        if not re.fullmatch(FUNCTION_PATTERN, value):
            raise ValueError(f"expected module:function such as checks.shop:stock_is_consistent, got {value!r}")
        return value


__all__ = [
    "FUNCTION_PATTERN",
    "CommandProbeSpec",
    "HttpProbeSpec",
    "PythonProbeSpec",
    "TcpProbeSpec",
    "Url",
    "check_header",
    "parse_url",
]
