"""The run history: every run of every experiment (``chaoskit run``, pytest, game days, the API), kept in SQLite
(``<state_dir>/history.sqlite``) or PostgreSQL, and the trends read from it.

- :mod:`~chaoskit.history.record`: what is kept of a run.
- :mod:`~chaoskit.history.store`: the databases, chosen by ``CHAOSKIT_HISTORY``.
- :mod:`~chaoskit.history.plugin`: the built-in plugin recording each run on ``chaoskit_run_finish``.
- :mod:`~chaoskit.history.trends`: pass rate with a Wilson interval, the flaky flag, TTR over time.
- :mod:`~chaoskit.history.page`: the HTML index linking every run's report.
"""
