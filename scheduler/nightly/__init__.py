"""Nightly repairs of published schedules: decided once per round and night, solved by the solve workers.

- `decide`: whether a round's night needs a repair (its inputs changed since the
  schedule in force), recorded exactly once per round and night however many
  processes ask.
- `repair`: the worker's two steps for a nightly run: the repair input when it takes
  the run, then the changes and the auto-publish policy when it finishes.
- `service`: the APScheduler cron job per round, in the API process or in
  `beamtime scheduler` (`cli`).
- `history`: what the API shows of past nights.

The package has no imports here, so that the worker can import `repair` without
APScheduler and without import cycles.
"""
