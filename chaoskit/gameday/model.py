"""The game-day file, version 1: frozen pydantic models with ``extra="forbid"``.

```yaml
version: 1
name: weekly-shop
experiments:                       # run in order; a `parallel` group runs its experiments at the same time
  - ../../experiments/quickstart.yaml
  - parallel: [store-*.yaml, api.yaml]
variables: {SHOP_PORT: "18080"}     # in the environment of every experiment (its ${VAR}, its processes)
schedule: {cron: "0 9 * * MON", timezone: Europe/Berlin, starting_deadline: 1h}
concurrency: skip                  # or queue: what a slot does while the previous run still runs
deadline: 2h                       # stop (reverting faults) and skip the rest after this long
stop_on_failure: true
notify:
  webhook: {url: "http://127.0.0.1:9000/hook", retries: 3}
  command: [sh, -c, "cat > last-gameday.json"]
```
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator

from chaoskit.experiment.model import Name, Strict
from chaoskit.experiment.units import Duration
from chaoskit.gameday.cron import check_cron, check_timezone

VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _scalar_text(value: object) -> object:
    """YAML reads ``18080`` as a number and ``yes`` as a boolean; a variable is text either way."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


VarValue = Annotated[str, BeforeValidator(_scalar_text)]


def _url_form(value: object) -> object:
    return {"url": value} if isinstance(value, str) else value


def _argv_form(value: object) -> object:
    return {"argv": value} if isinstance(value, list) else value


class Webhook(Strict):
    """POST the game day's JSON summary to ``url``; retried on network errors, timeouts, 408, 429 and 5xx."""

    url: str = Field(description="An http:// or https:// URL.")
    timeout: Duration = Field(10.0, description="Per attempt.")
    retries: int = Field(3, ge=0, le=10, description="Attempts after the first.")
    backoff: Duration = Field(1.0, description="Pause before the first retry; doubled before each next one.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value


class NotifyCommand(Strict):
    """Run ``argv`` (no shell) with the JSON summary on its standard input."""

    argv: list[str] = Field(min_length=1)
    timeout: Duration = Field(60.0, description="Killed after this long.")


class Notify(Strict):
    """Who hears of a finished game day. A notification that fails is recorded; it never fails the game day."""

    when: Literal["always", "failure"] = Field("always", description="failure: only when the outcome is not passed.")
    webhook: Annotated[Webhook | None, BeforeValidator(_url_form)] = None
    command: Annotated[NotifyCommand | None, BeforeValidator(_argv_form)] = None


class Schedule(Strict):
    """When the scheduler starts the game day."""

    cron: str = Field(description="Five cron fields (minute hour day month weekday), @daily, @weekly, ..., or six "
                      "with seconds first.")
    timezone: str = Field("UTC", description="The IANA time zone the cron fields are read in.")
    starting_deadline: Duration = Field(
        3600.0, description="A slot the scheduler missed (it was down) still starts if it is at most this late."
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_timezone(value)


class Parallel(Strict):
    """Experiments started together; the next step waits for all of them."""

    parallel: list[str] = Field(min_length=1, description="Paths or globs, relative to the game-day file.")


Step = str | Parallel


class GameDay(Strict):
    """A suite of experiments run together, once or on a schedule."""

    version: Literal[1]
    name: Name
    description: str = ""
    experiments: list[Step] = Field(
        min_length=1, description="Paths or globs (relative to this file) run in order, or parallel groups."
    )
    variables: dict[str, VarValue] = Field(
        default_factory=dict, description="Environment of every experiment: its ${VAR}, processes and probes."
    )
    schedule: Schedule | None = None
    concurrency: Literal["skip", "queue"] = Field(
        "skip", description="When a slot comes while the previous run still runs: skip it, or run it after."
    )
    deadline: Duration | None = Field(
        None, description="Interrupt the running experiments (faults reverted) and skip the rest after this long."
    )
    stop_on_failure: bool = Field(
        False, description="Skip the remaining steps once an experiment failed, errored, or was invalid."
    )
    notify: Notify = Field(default_factory=Notify)
    reports: list[str] = Field(
        default_factory=lambda: ["html"],
        description="Report formats written beside each run's journal (report.<suffix>), linked from history.",
    )

    @field_validator("variables")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not re.fullmatch(VAR_PATTERN, k)]
        if bad:
            raise ValueError(f"variable names are letters, digits and _ (not starting with a digit), got {bad[0]!r}")
        return value
