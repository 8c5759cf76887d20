"""Schedule versions (list, read, publish, diff, pin, move, swap, export), proposer views and the calendar feed."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, delete, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED
from pydantic import BaseModel, Field

from api.controllers import LOCATION, SignedIn, permits
from api.controllers.reports import FileAnswers, Format, chosen_format, download, file_responses
from api.i18n import locale_of
from api.params import CurrentUser, Id, Page, Session
from scheduler.access import Operation
from scheduler.accounts.schemas import Claims
from scheduler.reports.schedule_sheet import schedule_csv, schedule_xlsx
from scheduler.reports.service import schedule_sheet
from scheduler.roundfile.contract import ScheduleFile
from scheduler.schedules import calendar, signoffs
from scheduler.schedules import service as schedules
from scheduler.schedules.calendar import ProposalStatus
from scheduler.schedules.service import (
    AllocationPublic,
    Move,
    MoveCheck,
    Moves,
    Published,
    PublishRequest,
    RoundVersions,
    VersionDetail,
    VersionDiff,
)
from scheduler.schedules.signoffs import SignOffs

RequestCode = Annotated[
    str, PathParameter(min_length=1, max_length=64, description="The request's id in the round file.")
]
PIN = "/schedules/{version_id:int}/allocations/{request_code:str}/pin"
"""A draft's allocation, pinned (POST) or not (DELETE): a re-solve after the draft's publication keeps it exactly."""


class CalendarAddress(BaseModel):
    url: str = Field(
        description="Subscribe to it in a calendar app; anyone holding it can read the feed, so keep it private. "
        "It is shown this once."
    )


class CalendarFeed(BaseModel):
    exists: bool = Field(description="Whether an address was made; POST /me/calendar-url makes a new one.")


class ScheduleController(SignedIn):
    """A round's versions (read, publish with sign-offs, diff, pin, move, export) are its coordinators' and admins':
    they carry priorities and reasons. Under `/me` a proposer reads their own slots and their calendar address."""

    tags = ("schedules",)

    @get(
        "/rounds/{round_id:int}/schedules",
        summary="A page of the round's schedule versions, by number, and the round's revision",
        description="The round's coordinators and admins only (versions carry priorities and reasons). "
        "`revision` is what POST /schedules/{id}/publish expects.",
    )
    async def list_versions(
        self, round_id: Id, db_session: Session, current_user: CurrentUser, page: Page
    ) -> RoundVersions:
        await schedules.require_round_reader(db_session, current_user, round_id)
        return await schedules.list_versions(db_session, round_id, page)

    @get("/schedules/{version_id:int}", summary="A schedule version with its allocations")
    async def get_version(self, version_id: Id, db_session: Session, current_user: CurrentUser) -> VersionDetail:
        await schedules.require_readers(db_session, current_user, version_id)
        return await schedules.get_version(db_session, version_id)

    @post(
        "/schedules/{version_id:int}/publish",
        status_code=200,
        summary="Publish a draft, superseding the version in force (the round's coordinators)",
        description="`expected_revision` is the round's revision as last read. If someone published since, "
        "the answer is 409 with `current_revision` and nothing changes. A draft that breaks a rule of the round "
        "as it is now (a window or quota added since it was made) answers 409 listing each broken rule in `errors`. "
        "In a shared round (more than one facility) every facility whose instruments the draft changes must have "
        "signed off (POST /schedules/{id}/sign-off); the publishing coordinator signs for their own facilities "
        "with the publish. Otherwise the answer is 409 naming the facilities still to sign in `facilities`. "
        "Admins publish without sign-offs.",
        guards=[permits(Operation.PUBLISH_SCHEDULE)],
    )
    async def publish(
        self, version_id: Id, data: JSONBody[PublishRequest], db_session: Session, current_user: CurrentUser
    ) -> Published:
        await schedules.require_publisher(db_session, current_user, version_id)
        return await schedules.publish(
            db_session, version_id, expected_revision=data.expected_revision, user_id=current_user.user_id
        )

    @get(
        "/schedules/{version_id:int}/sign-offs",
        summary="Which facilities must sign off a draft of a shared round before it is published, and who has",
    )
    async def sign_offs(self, version_id: Id, db_session: Session, current_user: CurrentUser) -> SignOffs:
        return await signoffs.read(db_session, current_user, version_id)

    @post(
        "/schedules/{version_id:int}/sign-off",
        status_code=200,
        summary="Sign off a draft's changes on the instruments of my facilities (coordinators of a changed facility)",
        description="Records one sign-off per facility the caller coordinates whose instruments the draft changes "
        "against the published version; signing again is harmless. A sign-off is for this draft only: a pin or "
        "unpin on it takes back the sign-off of the facility it touches. Only drafts are signed off (409).",
        guards=[permits(Operation.SIGN_OFF_SCHEDULE)],
    )
    async def sign_off(self, version_id: Id, db_session: Session, current_user: CurrentUser) -> SignOffs:
        return await signoffs.give(db_session, current_user, version_id)

    @delete(
        "/schedules/{version_id:int}/sign-off",
        summary="Withdraw my facilities' sign-offs of a draft",
        description="404 when none of the caller's facilities signed off the draft.",
        guards=[permits(Operation.SIGN_OFF_SCHEDULE)],
    )
    async def withdraw_sign_off(self, version_id: Id, db_session: Session, current_user: CurrentUser) -> None:
        await signoffs.withdraw(db_session, current_user, version_id)

    @get(
        "/schedules/{from_id:int}/diff/{to_id:int}",
        summary="What changed, per request, from one version of a round to another",
    )
    async def diff(self, from_id: Id, to_id: Id, db_session: Session, current_user: CurrentUser) -> VersionDiff:
        await schedules.require_readers(db_session, current_user, from_id, to_id)
        return await schedules.diff(db_session, from_id, to_id)

    @post(
        PIN, status_code=200, summary="Pin an allocation of a draft: a re-solve after its publication keeps it exactly"
    )
    async def pin(
        self, version_id: Id, request_code: RequestCode, db_session: Session, current_user: CurrentUser
    ) -> AllocationPublic:
        return await _set_pinned(db_session, current_user, version_id, request_code, pinned=True)

    @delete(PIN, status_code=200, summary="Unpin an allocation of a draft")
    async def unpin(
        self, version_id: Id, request_code: RequestCode, db_session: Session, current_user: CurrentUser
    ) -> AllocationPublic:
        return await _set_pinned(db_session, current_user, version_id, request_code, pinned=False)

    @post(
        "/schedules/{version_id:int}/moves",
        summary="Move one request by hand: a new draft if the schedule then keeps every rule",
        description="The version itself is never changed. The would-be schedule is checked against every rule "
        "of the round file format; if any breaks, the answer is 422 listing each (`rule`, `path`, `message`) "
        "and nothing is saved. The one-move case of POST /schedules/{id}/edits: a problem of the move itself is "
        "at `$.moves[0]`.",
        guards=[permits(Operation.CHANGE_SCHEDULE)],
        response_headers=[LOCATION],
    )
    async def move(
        self, version_id: Id, data: JSONBody[Move], db_session: Session, current_user: CurrentUser
    ) -> Response[VersionDetail]:
        return await _moved(db_session, current_user, version_id, Moves(moves=[data]))

    @post(
        "/schedules/{version_id:int}/edits",
        summary="Move several requests by hand as one change (a swap is two moves): one new draft if the schedule "
        "then keeps every rule",
        description="The moves are judged together on the would-be schedule, so a pair that only works as a pair "
        "(two blocks exchanging places, each overlapping the other alone) is kept. If any rule breaks, the answer is "
        "422 listing each (`rule`, `path`, `message`) and nothing is saved: all or nothing. Each request is moved at "
        "most once per change. The version itself is never changed (a new draft is made from it as it is), so no "
        "revision is sent; `POST /schedules/{id}/publish` checks the round's revision.",
        guards=[permits(Operation.CHANGE_SCHEDULE)],
        response_headers=[LOCATION],
    )
    async def edit(
        self, version_id: Id, data: JSONBody[Moves], db_session: Session, current_user: CurrentUser
    ) -> Response[VersionDetail]:
        return await _moved(db_session, current_user, version_id, data)

    @post(
        "/schedules/{version_id:int}/edits/check",
        status_code=200,
        summary="Judge moves without saving them: whether the schedule would keep every rule, and which it breaks",
        description="The same check as POST /schedules/{id}/edits (and /moves) makes, answered as a verdict; no draft "
        "is made. The round page asks it while a block is dragged.",
        guards=[permits(Operation.CHANGE_SCHEDULE)],
    )
    async def check_edit(
        self, version_id: Id, data: JSONBody[Moves], db_session: Session, current_user: CurrentUser
    ) -> MoveCheck:
        await _require_mover(db_session, current_user, version_id, data)
        return await schedules.check_moves(db_session, version_id, data)

    @get(
        "/schedules/{version_id:int}/export",
        summary="A schedule version as a schedule file",
        description="Priorities and reasons only of the proposals the caller may read in confidence (in a shared "
        "round, a coordinator's: those asking for their facilities' instruments); the others' allocations have "
        "priority 0 (withheld) and their unallocated requests are left out. As CSV or XLSX: one row per "
        "allocation in its facility's local time, with proposal, PI, shifts, priority (empty when withheld).",
        responses=file_responses(ScheduleFile, "The schedule file"),
        operation_class=FileAnswers,
    )
    async def export(
        self,
        request: Request[Any, Any, Any],
        version_id: Id,
        db_session: Session,
        current_user: CurrentUser,
        format: Format = None,
    ) -> Response[Any]:
        file_format = chosen_format(request, format)
        if file_format == "json":
            await schedules.require_readers(db_session, current_user, version_id)
            return Response(await schedules.export_for(db_session, current_user, version_id))
        sheet = await schedule_sheet(db_session, current_user, version_id)
        render = schedule_csv if file_format == "csv" else schedule_xlsx
        name = f"{sheet.round_file.round.id}-schedule-{version_id}"
        return download(render(sheet.round_file, sheet.schedule), file_format, name)

    @get(
        "/me/proposals",
        summary="My proposals, each with a plain status and, once scheduled, its slots",
        description="Status: submitted, under_review, scored, scheduled (slots in the facility's timezone), "
        "waitlisted (eligible, no time in the published schedule), not_scheduled (below the cut-off or not "
        "feasible), withdrawn; `reason` and `unallocated` say why time was not given.",
    )
    async def my_proposals(self, db_session: Session, current_user: CurrentUser) -> list[ProposalStatus]:
        return await calendar.my_proposals(db_session, current_user.user_id)

    @get("/me/calendar-url", summary="Whether I have a calendar feed address (the address itself is shown once)")
    async def calendar_feed(self, db_session: Session, current_user: CurrentUser) -> CalendarFeed:
        return CalendarFeed(exists=await calendar.has_calendar_feed(db_session, current_user.user_id))

    @post(
        "/me/calendar-url",
        summary="A new address of my calendar feed (iCalendar), for calendar apps; the one before stops working",
        description="Only a hash of the address's secret is kept, so this answer is the one time it is shown. "
        "Asked in another language than English (`Accept-Language`), the address names it: the feed's events "
        "are told in it.",
    )
    async def new_calendar_url(
        self, request: Request[Any, Any, Any], db_session: Session, current_user: CurrentUser, state: State
    ) -> CalendarAddress:
        path = await calendar.new_calendar_path(db_session, current_user.user_id, locale_of(request))
        return CalendarAddress(url=state.settings.public_url.rstrip("/") + path)


async def _set_pinned(
    db_session: Session, actor: Claims, version_id: int, request_code: str, *, pinned: bool
) -> AllocationPublic:
    await schedules.require_manager(db_session, actor, version_id, requests=[request_code])
    return await schedules.set_pinned(db_session, version_id, request_code, pinned, user_id=actor.user_id)


async def _require_mover(db_session: Session, actor: Claims, version_id: int, changes: Moves) -> None:
    await schedules.require_manager(
        db_session,
        actor,
        version_id,
        requests=[change.request for change in changes.moves],
        instruments=[change.instrument for change in changes.moves],
    )


async def _moved(db_session: Session, actor: Claims, version_id: int, changes: Moves) -> Response[VersionDetail]:
    await _require_mover(db_session, actor, version_id, changes)
    draft = await schedules.move(db_session, version_id, changes, user_id=actor.user_id)
    return Response(draft, status_code=HTTP_201_CREATED, headers={"Location": f"/schedules/{draft.id}"})
