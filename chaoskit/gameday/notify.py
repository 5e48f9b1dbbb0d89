"""Tell people a game day finished: POST its JSON summary to a webhook, and run a command with it on stdin.

Nothing here raises: each notification returns a record of what happened (attempts, status, error), which the
game day keeps in its summary. A broken webhook must never turn a passing game day into a failing one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from chaoskit._version import __version__
from chaoskit.gameday.model import NotifyCommand, Webhook

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF = 60.0
OUTPUT_LIMIT = 2000


async def post_webhook(hook: Webhook, summary: Mapping[str, Any]) -> dict[str, Any]:
    """POST ``summary`` with retries and a timeout per attempt; returns ``{"kind", "ok", "attempts", ...}``."""
    body = json.dumps(summary, default=str).encode("utf-8")
    record: dict[str, Any] = {"kind": "webhook", "url": _without_credentials(hook.url), "ok": False, "attempts": 0}
    delay = hook.backoff
    for attempt in range(1, hook.retries + 2):
        record["attempts"] = attempt
        status, error = await asyncio.to_thread(_post, hook, body)
        record["status"], record["error"] = status, error
        if status is not None and 200 <= status < 300:
            record["ok"], record["error"] = True, None
            break
        if status is not None and status not in RETRY_STATUSES:
            break  # the receiver refused the request itself: sending it again changes nothing
        if attempt <= hook.retries:
            await asyncio.sleep(min(delay, MAX_BACKOFF))
            delay *= 2
    return record


def _post(hook: Webhook, body: bytes) -> tuple[int | None, str | None]:
    headers = {"Content-Type": "application/json", "User-Agent": f"chaoskit/{__version__}", **hook.headers}
    request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=hook.timeout) as response:
            response.read(OUTPUT_LIMIT)
            return int(response.status), None
    except urllib.error.HTTPError as exc:
        return int(exc.code), f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"{type(reason).__name__}: {reason}"


async def run_command(command: NotifyCommand, summary: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Run the command with the summary on stdin and ``CHAOSKIT_GAMEDAY_*`` in its environment."""
    record: dict[str, Any] = {"kind": "command", "argv": list(command.argv), "ok": False}
    extra = {
        "CHAOSKIT_GAMEDAY": str(summary.get("gameday", "")),
        "CHAOSKIT_GAMEDAY_RUN": str(summary.get("run_id", "")),
        "CHAOSKIT_GAMEDAY_OUTCOME": str(summary.get("outcome", "")),
        "CHAOSKIT_GAMEDAY_SUMMARY": str(summary.get("directory") or ""),
    }
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *command.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={**env, **extra}, start_new_session=True,
        )
    except OSError as exc:
        record["error"] = f"cannot start: {exc}"
        return record
    try:
        output, _ = await asyncio.wait_for(proc.communicate(json.dumps(summary, default=str).encode()),
                                           command.timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        record["error"] = f"killed after {command.timeout:g}s"
        return record
    record["exit_code"] = proc.returncode
    record["output"] = output.decode("utf-8", "replace")[-OUTPUT_LIMIT:]
    record["seconds"] = round(time.monotonic() - started, 3)
    record["ok"] = proc.returncode == 0
    if not record["ok"]:
        record["error"] = f"exit status {proc.returncode}"
    return record


def _without_credentials(url: str) -> str:
    """The URL as kept in summaries: no ``user:password@``, no query (tokens live there)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
