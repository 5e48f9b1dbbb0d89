"""chaoskit: chaos experiments that prove a system keeps its SLOs when things break."""

from __future__ import annotations

from chaoskit._version import __version__
from chaoskit.plugins import hookimpl

__all__ = ["__version__", "hookimpl"]
