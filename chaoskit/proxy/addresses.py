"""Go-compatible ``host:port`` handling: splitting, resolving and printing addresses as Toxiproxy reports them.

Only IP literals, ``localhost`` and the empty host are resolved here; any other name goes through the system
resolver (:func:`socket.getaddrinfo`), as Go's would.
"""

from __future__ import annotations

import ipaddress
import socket


class AddressError(ValueError):
    """An address Go's ``net`` package would refuse; the message is Go's text."""


def split_host_port(addr: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``."""
    if addr.startswith("["):
        end = addr.find("]")
        if end < 0:
            raise AddressError(f"address {addr}: missing ']' in address")
        host, rest = addr[1:end], addr[end + 1 :]
        if not rest.startswith(":"):
            if rest == "":
                raise AddressError(f"address {addr}: missing port in address")
            raise AddressError(f"address {addr}: unexpected ']' in address")
        port = rest[1:]
        if "[" in host or "]" in host or "[" in port or "]" in port:
            raise AddressError(f"address {addr}: unexpected '[' in address")
        return host, port
    colon = addr.rfind(":")
    if colon < 0:
        raise AddressError(f"address {addr}: missing port in address")
    host, port = addr[:colon], addr[colon + 1 :]
    if ":" in host:
        raise AddressError(f"address {addr}: too many colons in address")
    if "[" in addr or "]" in addr:
        raise AddressError(f"address {addr}: unexpected '[' in address")
    return host, port


def _port(addr: str, port: str) -> int:
    if port == "":
        return 0
    if port.isascii() and port.isdigit():
        value = int(port)
        if value > 65535:
            raise AddressError(f"address {addr}: invalid port")
        return value
    try:
        return socket.getservbyname(port, "tcp")
    except (OSError, UnicodeError, ValueError):
        raise AddressError(f"lookup tcp/{port}: unknown port") from None


def resolve(addr: str) -> tuple[str | None, int]:
    """``addr`` -> (IP or None for the wildcard, port), as Go's ``net.ResolveTCPAddr`` (IPv4 preferred)."""
    if addr == "":
        return None, 0
    host, port_text = split_host_port(addr)
    port = _port(addr, port_text)
    if host == "":
        return None, port
    if "\x00" in host:
        raise AddressError(f"lookup {host}: no such host")
    try:
        return str(ipaddress.ip_address(host.split("%")[0])), port
    except ValueError:
        pass
    if host.lower() == "localhost":
        return "127.0.0.1", port
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        raise AddressError(f"lookup {host}: no such host") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0]), port


def format_addr(ip: str | None, port: int) -> str:
    """Go's ``TCPAddr.String()``: ``127.0.0.1:80``, ``[::1]:80``, ``:80`` for no IP."""
    if ip is None:
        return f":{port}"
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def resolved_string(addr: str) -> str:
    """The string Toxiproxy compares a stored listen address with (raises :class:`AddressError`)."""
    return format_addr(*resolve(addr))


def bind_socket(addr: str) -> tuple[socket.socket, str]:
    """A listening socket for ``addr`` and the address it reports (Go's ``ln.Addr().String()``).

    The empty host binds the dual-stack wildcard and reports ``[::]:PORT``, as Go does; ``0.0.0.0`` binds the
    IPv4 wildcard and reports ``0.0.0.0:PORT`` (Go reports ``[::]`` for it too).
    """
    try:
        ip, port = resolve(addr)
    except AddressError as exc:
        raise AddressError(f"listen tcp: {exc}") from None
    family = socket.AF_INET6 if ip is None or ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if ip is None:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((ip if ip is not None else "::", port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise AddressError(f"listen tcp {format_addr(ip, port)}: bind: {reason}") from None
    host = sock.getsockname()[0]
    return sock, format_addr("::" if ip is None else host, sock.getsockname()[1])


def dial_target(addr: str) -> tuple[str, int]:
    """(host, port) to dial for an upstream ``addr`` (raises :class:`AddressError`)."""
    host, port_text = split_host_port(addr)
    port = _port(addr, port_text)
    if host.lower() == "localhost":
        return "127.0.0.1", port
    return host or "127.0.0.1", port
