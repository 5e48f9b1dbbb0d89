"""Game days: a suite of experiments run together, now (``chaoskit gameday run``) or on a cron schedule
(``chaoskit gameday schedule``), with notifications and every run kept in the history.

- :mod:`~chaoskit.gameday.model` and :mod:`~chaoskit.gameday.loader`: the game-day file, with located errors.
- :mod:`~chaoskit.gameday.runner`: runs one game day (stages in order, experiments of a stage in parallel),
  each experiment in its own ``chaoskit run`` process (:mod:`~chaoskit.gameday.launcher`).
- :mod:`~chaoskit.gameday.notify`: the webhook and the command told of each finished game day.
- :mod:`~chaoskit.gameday.scheduler` and :mod:`~chaoskit.gameday.slots`: the long-running scheduler and the
  SQLite record of every slot it handled, which makes it safe to restart.
- :mod:`~chaoskit.gameday.clock`: wall time and a hand-driven clock for tests.
"""

# The environment a run of a game day carries, so the history records which game day it belonged to. Defined
# here, not in the runner, so the history plugin reads them after every run without importing the runner.
ENV_GAMEDAY, ENV_GAMEDAY_RUN = "CHAOSKIT_GAMEDAY", "CHAOSKIT_GAMEDAY_RUN"
