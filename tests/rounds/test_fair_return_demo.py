"""The demo's two rounds under one fair-return policy (issue 13): the second is solved with the first's published
schedule as its history, and pays back part of the deficit the first left the CIS partners."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from scheduler.db.engine import create_engine, session_maker
from scheduler.db.tables import FairReturnPolicy, Round, SolveRun
from scheduler.demo import FAIR_RETURN_MARGIN, SECOND_ROUND, set_up_demo
from scheduler.roundfile.contract import FairReturnTarget, RoundFile, ScheduleFile
from scheduler.settings import Settings

TIME_LIMIT = 5.0


async def test_the_demos_second_round_repays_the_first_rounds_deficit(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'beamtime.db'}"
    demo = await set_up_demo(Settings(database_url=url), time_limit=TIME_LIMIT)
    engine = create_engine(url)
    try:
        async with session_maker(engine)() as session:
            policy = (await session.execute(select(FairReturnPolicy))).scalar_one()
            attached = await session.execute(
                select(col(Round.code)).where(col(Round.fair_return_policy_id) == policy.id).order_by(col(Round.start))
            )
            run = (await session.execute(select(SolveRun).where(col(SolveRun.id) == demo.second_solve_id))).scalar_one()
    finally:
        await engine.dispose()
    assert list(attached.scalars()) == [demo.round_code, SECOND_ROUND]
    assert run.round_id == demo.second_round_id and run.input is not None and run.output is not None
    (target,) = [FairReturnTarget.model_validate(stored) for stored in policy.targets]
    fair_return = RoundFile.model_validate(run.input).fair_return
    assert fair_return is not None
    (history,) = fair_return.history
    assert (history.round, history.target) == (demo.round_code, target.id)
    owed_before = target.share * history.shifts_total - history.shifts
    # The policy owes the CIS partners more than the first round gave them, whatever the search found there.
    assert target.share == round(history.shifts / history.shifts_total + FAIR_RETURN_MARGIN, 2)
    (report,) = ScheduleFile.model_validate(run.output).fair_return or []
    assert report.history_share is not None and report.round_share is not None
    assert owed_before > 0 and report.history_share < target.share
    # What is owed is priced, not imposed: the second round gives the partners more than their history and pays
    # part of the deficit back; how far past the target depends on the search's 5 s on a shared machine
    # (0.2875 against 0.29 once at load 10).
    assert report.round_share > report.history_share
    assert report.deficit < owed_before
