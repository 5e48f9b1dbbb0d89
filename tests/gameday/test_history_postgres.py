"""The history in a real PostgreSQL (Debian's server, started for the test on 127.0.0.1); skipped where there is
no PostgreSQL server binary to start."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.errors import HistoryError
from chaoskit.history.store import PostgresHistory, open_history

from .helpers import write_experiment


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]  # initdb refuses to run as root


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg")
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl or (os.geteuid() == 0 and not shutil.which("runuser")):
        pytest.skip("no PostgreSQL server to start (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="chaoskit-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "chaos", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True, timeout=120)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o", options,
                                 "start"]), check=True, capture_output=True, timeout=120)
    try:
        yield f"postgresql://chaos:unused@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True,
                       timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def test_runs_are_recorded_in_postgresql_and_shown(workdir: Path, postgres_url: str) -> None:
    write_experiment(workdir, "exp.yaml", title="in postgres")
    env = {**os.environ, "CHAOSKIT_HISTORY": postgres_url}
    for _ in range(2):
        run = subprocess.run([sys.executable, "-m", "chaoskit", "run", "-q", "--state-dir", "st", "exp.yaml"],
                             env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0 and "not recorded" not in run.stderr, run.stderr
    assert not (workdir / "st" / "history.sqlite").exists()
    history = open_history(postgres_url)
    assert isinstance(history, PostgresHistory) and ":***@" in history.url
    try:
        runs = history.runs(experiment="in postgres")
    finally:
        history.close()
    assert len(runs) == 2 and all(r.outcome == "passed" and r.via == "cli" and r.recovered for r in runs)
    assert runs[0].started_at > runs[1].started_at and runs[0].verdicts[0]["slo"] == "up"
    shown = subprocess.run([sys.executable, "-m", "chaoskit", "history", "--db", postgres_url], env=env,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "in postgres" in shown.stdout and "2/2 100%" in shown.stdout


def test_an_unreachable_postgresql_is_a_history_error_not_a_crash() -> None:
    pytest.importorskip("psycopg")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HistoryError, match="cannot connect") as info:
        open_history(f"postgresql://chaos:secret@127.0.0.1:{port}/x")
    assert "secret" not in str(info.value) and info.value.url == f"postgresql://chaos:***@127.0.0.1:{port}/x"
