"""The ``python`` probe: call ``module:function`` with keyword arguments; a truthy result or None is healthy.

The module is imported by its dotted name when the probe is created (when chaoskit runs an experiment, the
experiment file's directory is on ``sys.path``), so a typo fails the run before anything is touched.
Coroutine functions are awaited on the run's loop; plain functions run on a daemon thread per call, so a hung
call neither starves a shared pool nor blocks exit. While a timed-out call still runs, further calls fail at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import inspect
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from chaoskit.errors import ProbeError
from chaoskit.probes._common import seconds
from chaoskit.probes.specs import PythonProbeSpec
from chaoskit.registry import Observation, Probe

_DETAIL = 200


def load_function(path: str, *, probe: str | None = None) -> Callable[..., Any]:
    """Import ``"package.module:attr.path"`` and return the callable; :class:`ProbeError` saying why not."""
    module_name, sep, attr_path = path.partition(":")
    if not sep or not module_name or not attr_path:
        raise ProbeError(f"expected module:function, got {path!r}", probe=probe)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProbeError(
            f"cannot import module {module_name!r} for {path!r}: {exc} "
            "(chaoskit puts the experiment's directory on sys.path)",
            probe=probe,
        ) from exc
    except Exception as exc:
        raise ProbeError(
            f"importing {module_name!r} for {path!r} raised {type(exc).__name__}: {exc}", probe=probe
        ) from exc
    for attr in attr_path.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ProbeError(f"{module_name!r} has no attribute {attr_path!r} (from {path!r})", probe=probe) from None
    if not callable(obj):
        raise ProbeError(f"{path!r} is a {type(obj).__name__}, not a function", probe=probe)
    return obj  # type: ignore[no-any-return]


class PythonProbe(Probe):
    """Call ``function(**args)`` once per :meth:`observe`, bounded by ``timeout``."""

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        args: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
        name: str | None = None,
    ) -> None:
        self.function = function
        self.args = dict(args or {})
        self.timeout = timeout
        self.label: str = name or str(getattr(function, "__qualname__", None) or repr(function))
        try:
            inspect.signature(function).bind(**self.args)
        except TypeError as exc:
            raise ProbeError(f"{self.label}: the args do not fit the function: {exc}", probe=name) from None
        except ValueError:
            pass  # no signature to check (some builtins)
        self._is_async = _is_coroutine_function(function)
        self._running: asyncio.Future[Any] | None = None

    @classmethod
    def from_path(
        cls,
        path: str,
        *,
        args: Mapping[str, Any] | None = None,
        timeout: float = 5.0,
        name: str | None = None,
    ) -> PythonProbe:
        return cls(load_function(path, probe=name), args=args, timeout=timeout, name=name)

    @classmethod
    def from_spec(cls, spec: PythonProbeSpec) -> PythonProbe:
        return cls.from_path(spec.function, args=spec.args, timeout=spec.timeout, name=spec.name)

    async def observe(self) -> Observation:
        started = time.perf_counter()
        if self._running is not None and not self._running.done():
            return Observation(False, 0.0, "the previous call is still running")
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._call()
        except TimeoutError:
            return Observation(False, time.perf_counter() - started, f"timed out after {seconds(self.timeout)}")
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return Observation(False, time.perf_counter() - started, detail[:_DETAIL])
        latency = time.perf_counter() - started
        if result is None or result:
            return Observation(True, latency, "" if result is None or result is True else _short(result))
        return Observation(False, latency, f"returned {_short(result)}")

    async def _call(self) -> Any:
        if self._is_async:
            return await self.function(**self.args)
        self._running = _run_in_daemon_thread(functools.partial(self.function, **self.args), self.label)
        # Shielded: a timeout abandons the call (a thread cannot be stopped) but keeps it tracked.
        result = await asyncio.shield(self._running)
        if inspect.isawaitable(result):
            result = await result
        return result


def _run_in_daemon_thread(call: Callable[[], Any], label: str) -> asyncio.Future[Any]:
    """Run ``call`` on a new daemon thread: a hung probe must neither starve a pool nor block interpreter exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        result: Any = None
        error: BaseException | None = None
        try:
            result = call()
        except Exception as exc:
            error = exc
        except BaseException as exc:  # SystemExit and friends must not stop the runner
            error = RuntimeError(f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=f"chaoskit-probe-{label}", daemon=True).start()
    return future


def _is_coroutine_function(function: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _short(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text[:_DETAIL]
