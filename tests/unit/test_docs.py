"""The generated docs are up to date (regenerate with `python -m chaoskit.docgen docs/`)."""

from __future__ import annotations

from pathlib import Path

from chaoskit.docgen import catalogue, reference

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_reference_is_current() -> None:
    assert (DOCS / "reference.md").read_text() == reference(), "run: python -m chaoskit.docgen docs/"


def test_catalogue_is_current_and_lists_every_builtin_kind() -> None:
    text = (DOCS / "catalogue.md").read_text()
    assert text == catalogue(), "run: python -m chaoskit.docgen docs/"
    for kind in ("process.stop", "process.kill", "noop", "network.latency", "http", "tcp", "command", "python"):
        assert f"### `{kind}`" in text
