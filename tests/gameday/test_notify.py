"""Notifications: the webhook gets the JSON summary (a real HTTP server on 127.0.0.1), is retried on failure,
and neither a failing webhook nor a failing command fails the game day."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chaoskit.gameday.loader import load_gameday
from chaoskit.gameday.model import Webhook
from chaoskit.gameday.notify import post_webhook
from chaoskit.gameday.runner import run_gameday
from chaoskit.runner.result import Outcome

from .helpers import write_experiment, write_gameday


class Receiver:
    """A webhook receiver: answers the statuses in ``script`` in turn (then 200), records every request."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.delay:
                    threading.Event().wait(receiver.delay)
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def summaries(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gameday_file(workdir: Path, notify: str) -> Path:
    write_experiment(workdir, "ok.yaml", title="stays up")
    return write_gameday(workdir, f"version: 1\nname: notified\nexperiments: [ok.yaml]\nnotify: {notify}\n")


def test_the_webhook_receives_the_summary_after_retries(workdir: Path, receiver: Receiver) -> None:
    receiver.script = [503, 502]  # the receiver is briefly down, then takes it
    path = gameday_file(workdir, f'{{webhook: {{url: "{receiver.url}?token=s3cret", retries: 3, backoff: 50ms, '
                                 f'headers: {{X-Team: sre}}}}}}')
    result = asyncio.run(run_gameday(load_gameday(path), state_dir=workdir / "st"))
    assert result.outcome is Outcome.PASSED
    assert len(receiver.requests) == 3
    summary = receiver.summaries()[-1]
    assert summary["schema"] == "chaoskit.gameday/1" and summary["gameday"] == "notified"
    assert summary["outcome"] == "passed" and summary["experiments"][0]["title"] == "stays up"
    assert summary["experiments"][0]["journal"].endswith("journal.jsonl")
    headers = receiver.requests[-1]["headers"]
    assert headers["Content-Type"] == "application/json" and headers["X-Team"] == "sre"
    [note] = result.notifications
    assert note == {"kind": "webhook", "url": receiver.url, "ok": True, "attempts": 3, "status": 200,
                    "error": None}, "the token in the query is not kept"
    saved = json.loads((Path(result.directory or "") / "summary.json").read_text())
    assert saved["notifications"] == [note]


def test_a_failing_webhook_never_fails_the_game_day(workdir: Path, receiver: Receiver) -> None:
    receiver.script = [500] * 10
    path = gameday_file(workdir, f'{{webhook: {{url: "{receiver.url}", retries: 2, backoff: 10ms}}}}')
    result = asyncio.run(run_gameday(load_gameday(path), state_dir=workdir / "st"))
    assert result.outcome is Outcome.PASSED and result.exit_code == 0
    assert len(receiver.requests) == 3
    [note] = result.notifications
    assert note["ok"] is False and note["attempts"] == 3 and note["status"] == 500


def test_webhook_retries_on_refused_connections_and_timeouts_but_not_on_a_4xx(receiver: Receiver) -> None:
    summary = {"gameday": "x", "outcome": "passed"}
    refused = asyncio.run(post_webhook(Webhook(url=f"http://127.0.0.1:{closed_port()}/", retries=2, backoff=0.01),
                                       summary))
    assert refused["ok"] is False and refused["attempts"] == 3 and "Connection" in refused["error"]

    receiver.delay = 1.0
    slow = asyncio.run(post_webhook(Webhook(url=receiver.url, retries=1, backoff=0.01, timeout=0.2), summary))
    assert slow["ok"] is False and slow["attempts"] == 2 and "timed out" in slow["error"]

    receiver.delay = 0.0
    receiver.requests.clear()
    receiver.script = [400]
    refused_by_receiver = asyncio.run(post_webhook(Webhook(url=receiver.url, retries=3, backoff=0.01), summary))
    assert refused_by_receiver["attempts"] == 1 and refused_by_receiver["status"] == 400
    assert len(receiver.requests) == 1, "a 4xx is not retried: the same request would be refused again"


def test_the_command_gets_the_summary_and_a_failing_one_does_not_fail_the_game_day(workdir: Path) -> None:
    out = workdir / "seen.json"
    script = f"import json, os, sys; s = json.load(sys.stdin); open({str(out)!r}, 'w').write(json.dumps(" \
             "[s['gameday'], s['outcome'], os.environ['CHAOSKIT_GAMEDAY_OUTCOME']])); sys.exit(3)"
    path = gameday_file(workdir, json.dumps({"command": ["python", "-c", script], "when": "always"}))
    result = asyncio.run(run_gameday(load_gameday(path), state_dir=workdir / "st"))
    assert json.loads(out.read_text()) == ["notified", "passed", "passed"]
    assert result.outcome is Outcome.PASSED
    [note] = result.notifications
    assert note["kind"] == "command" and note["ok"] is False and note["exit_code"] == 3

    hung = gameday_file(workdir, '{command: {argv: [sleep, "30"], timeout: 200ms}}')
    result = asyncio.run(run_gameday(load_gameday(hung), state_dir=workdir / "st"))
    assert result.outcome is Outcome.PASSED and result.notifications[0]["error"] == "killed after 0.2s"


def test_when_failure_stays_quiet_on_a_pass(workdir: Path, receiver: Receiver) -> None:
    path = gameday_file(workdir, f'{{when: failure, webhook: "{receiver.url}"}}')
    result = asyncio.run(run_gameday(load_gameday(path), state_dir=workdir / "st"))
    assert result.outcome is Outcome.PASSED and result.notifications == [] and receiver.requests == []
