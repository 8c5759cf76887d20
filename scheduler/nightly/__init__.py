"""Nightly repairs of published schedules: decided once per round and night, solved by the solve workers.

- `decide`: whether a round's night needs a repair (its inputs changed since the
  schedule in force), recorded exactly once per round and night however many
  processes ask.
- `repair`: the job kind `nightly` the solve workers run: the repair input when a
  worker takes the run, then the changes and the auto-publish policy when it finishes.
- `service`: the APScheduler cron job per round, in the API process or in
  `beamtime scheduler` (`scheduler.runtime`).
- `history`: what the API shows of past nights.

Importing the package registers the nightly kind with the job queue, which knows
no kind by name: `scheduler.jobs` never imports this package.
"""

from scheduler.nightly import repair  # noqa: F401 (registers the nightly job kind)
