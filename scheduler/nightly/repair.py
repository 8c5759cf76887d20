"""The nightly repair as a job kind (`nightly`): the solve worker's two steps for a nightly run.

When a worker takes the run, `prepare_repair` turns the round as exported then into
the repair's input (`scheduler.roundfile.resolve.repair_input` against the schedule in force,
at the night's `now`): allocations starting inside the frozen horizon are pinned, the
others are kept where possible, nothing new starts in the past. When the worker has
saved the result as a draft, `conclude_repair` reports the changes against the
schedule the repair started from and applies the round's auto-publish policy, in
the same transaction as the draft:

- publish by itself when the round allows it (`Round.auto_publish`), the solve
  finished, no published slot inside the frozen horizon changed (pins guarantee
  it, except for slots a new window broke: those were freed, and a person must
  look; a slot moved into the horizon counts too), and the share of published slots
  moved, resized or dropped is at most `Round.auto_publish_max_moved_share` (slots
  of cancelled proposals and added slots do not count);
- otherwise keep the draft, its note saying why it waits for a coordinator (a stale draft, solved from an
  older input revision or breaking rules of the round as it is now, says so: it cannot be published);
- a repair that changes nothing is kept as a draft and says so.

Both steps keep what they found in the run's settings, which the nightly history shows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.tables import Proposal, Round, ScheduleVersion, SolveRun
from scheduler.errors import Conflict
from scheduler.jobs.kinds import JobKind, register
from scheduler.nightly.decide import NIGHTLY, Fingerprint
from scheduler.roundfile.contract import AllocationChange, RoundFile, ScheduleChanges, ScheduleFile
from scheduler.roundfile.resolve import changes_between, repair_input
from scheduler.rounds.revision import StaleSolveError, require_current_input
from scheduler.schedules.service import RevisionConflictError, publish
from scheduler.schedules.versions import version_schedule

Outcome = Literal["published", "waiting", "unchanged"]


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    review: tuple[str, ...]
    """Why the repair waits for a coordinator; empty when it does not."""
    moved_share: float


async def prepare_repair(session: AsyncSession, run_id: int, round_file: RoundFile) -> RoundFile:
    """The input of a nightly run: `round_file` (the round as exported now) repaired against the published version."""
    run = (
        await session.execute(select(col(SolveRun.round_id), col(SolveRun.settings)).where(col(SolveRun.id) == run_id))
    ).one()
    published = await session.scalar(
        select(ScheduleVersion).where(
            col(ScheduleVersion.round_id) == run.round_id, col(ScheduleVersion.status) == "published"
        )
    )
    if published is None or published.id is None:
        raise LookupError("the round no longer has a published schedule to repair")
    revision = await session.scalar(select(col(Round.revision)).where(col(Round.id) == run.round_id))
    at = datetime.fromisoformat(run.settings["now"])
    frozen_days = float(run.settings["frozen_days"])
    repair = repair_input(round_file, await version_schedule(session, published.id), at, frozen_days)
    fingerprint = Fingerprint.of(round_file.model_dump(mode="json"))
    settings = run.settings | {
        "published_version_id": published.id,
        "revision": revision,
        "inputs": fingerprint.inputs,
        "fingerprint": fingerprint.state,
        "frozen_until": (at + timedelta(days=frozen_days)).isoformat(),
        "disrupted": list(repair.disrupted),
    }
    await session.execute(update(SolveRun).where(col(SolveRun.id) == run_id).values(settings=settings))
    return repair.round_file


async def conclude_repair(
    session: AsyncSession, run_id: int, version_id: int, schedule: ScheduleFile, *, complete: bool
) -> ScheduleFile:
    """Judges the draft `version_id` of a nightly run and publishes it when the policy allows; returns
    `schedule` with its changes against the schedule in force and a note per disrupted slot.
    `complete` is False for a solve stopped early: its result always waits for review."""
    run = (
        await session.execute(select(col(SolveRun.round_id), col(SolveRun.settings)).where(col(SolveRun.id) == run_id))
    ).one()
    settings: dict[str, Any] = run.settings
    round_ = await session.get(Round, run.round_id)
    assert round_ is not None
    previous = await version_schedule(session, settings["published_version_id"])
    changes = changes_between(previous, schedule)
    withdrawn = set(
        (
            await session.execute(
                select(col(Proposal.code)).where(col(Proposal.round_id) == run.round_id, col(Proposal.withdrawn))
            )
        ).scalars()
    )
    disrupted: list[str] = settings["disrupted"]
    verdict = judge(
        changes,
        previous,
        withdrawn=withdrawn,
        frozen_until=datetime.fromisoformat(settings["frozen_until"]),
        disrupted=disrupted,
        auto_publish=round_.auto_publish,
        max_moved_share=round_.auto_publish_max_moved_share,
        complete=complete,
    )
    version = await session.get(ScheduleVersion, version_id)
    assert version is not None
    try:
        await require_current_input(session, version)
    except StaleSolveError as stale:
        verdict = _refused(verdict, stale)
    if verdict.outcome == "published":
        try:
            async with session.begin_nested():
                await publish(session, version_id, expected_revision=settings["revision"], user_id=None)
        except Conflict as refused:
            verdict = _refused(verdict, refused)
    await session.execute(
        update(ScheduleVersion)
        .where(col(ScheduleVersion.id) == version_id)
        .values(note=_note(verdict, settings["night"]))
    )
    counts = {kind: len(getattr(changes, kind)) for kind in ("moved", "resized", "dropped", "added")}
    await session.execute(
        update(SolveRun)
        .where(col(SolveRun.id) == run_id)
        .values(
            settings=settings
            | {
                "outcome": verdict.outcome,
                "review": list(verdict.review),
                "changes": counts,
                "moved_share": verdict.moved_share,
            }
        )
    )
    freed = [f"{request}: its slot inside the frozen horizon broke a rule and was freed" for request in disrupted]
    return schedule.model_copy(update={"changes": changes, "notes": [*schedule.notes, *freed]})


def judge(
    changes: ScheduleChanges,
    previous: ScheduleFile,
    *,
    withdrawn: Collection[str],
    frozen_until: datetime,
    disrupted: Sequence[str],
    auto_publish: bool,
    max_moved_share: float,
    complete: bool,
) -> Verdict:
    """The auto-publish policy: `previous` is the schedule the repair started from, `withdrawn` the
    proposals cancelled since (their dropped slots are the team's own doing). A slot changed inside
    the frozen horizon started there before the repair, or starts there after it."""
    touched: list[AllocationChange] = [
        *changes.moved,
        *changes.resized,
        *(change for change in changes.dropped if change.proposal not in withdrawn),
    ]
    standing = sum(allocation.proposal not in withdrawn for allocation in previous.allocations)
    share = len(touched) / standing if standing else 0.0
    if not (touched or changes.dropped or changes.added):
        return Verdict("unchanged", (), share)
    inside = sum(
        any(slot is not None and slot.start < frozen_until for slot in (change.before, change.after))
        for change in touched
    )
    review: list[str] = []
    if not complete:
        review.append("the solve was stopped before it finished")
    if disrupted:
        review.append(f"slots inside the frozen horizon broke a rule and were freed: {', '.join(disrupted)}")
    if inside:
        review.append(f"{inside} published slot(s) inside the frozen horizon changed")
    if share > max_moved_share:
        review.append(f"{share:.1%} of the published slots changed, above the round's limit of {max_moved_share:.1%}")
    if not auto_publish:
        review.append("the round does not publish nightly repairs by itself")
    return Verdict("waiting" if review else "published", tuple(review), share)


def _refused(verdict: Verdict, refused: Conflict) -> Verdict:
    """The verdict on a draft that cannot be published (or was refused): why, as publishing says it. A draft
    solved from an older input revision (`StaleSolveError`), or breaking rules of the round as it is now
    (`StaleDraftError`), is stale; a schedule published meanwhile (`RevisionConflictError`) is not the draft's doing."""
    if isinstance(refused, RevisionConflictError):
        why = "the schedule in force changed while the repair ran"
    else:
        why = f"stale: {refused}"
    reasons = verdict.review if verdict.outcome == "waiting" else ()
    return Verdict("waiting", (*reasons, why), verdict.moved_share)


def _note(verdict: Verdict, night: str) -> str:
    match verdict.outcome:
        case "published":
            return f"nightly repair of {night}, published by itself"
        case "waiting":
            return f"nightly repair waiting for review: {'; '.join(verdict.review)}"
        case "unchanged":
            return f"nightly repair of {night}: no change to the published schedule"


NIGHTLY_REPAIR = register(JobKind(NIGHTLY, prepare_repair, conclude_repair))
"""Registered when `scheduler.nightly` is imported: every worker of a process that imports it runs nightly repairs."""
