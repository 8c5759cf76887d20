"""Round files out of the database: export(import(file)) gives the file back, times in the round's own UTC offset."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from operator import itemgetter
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BindParameter, Select, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db import tables
from scheduler.roundfile import contract as c
from scheduler.roundfile.checks import InputError, problems_from_validation_error
from scheduler.rounds.catalogue_merge import windows_on
from scheduler.rounds.fair_return import round_fair_return
from scheduler.schedules.versions import allocations_in_codes, round_heading, round_zone

UNCONFIRMED_TYPES = ("in_house", "industrial")
"""Proposal types that count in quotas only once the facility's coordinators confirmed them."""
FACILITY_KEYS = ("id", "name", "country", "timezone")
INSTRUMENT_KEYS = ("id", "name", "techniques", "changeover_shifts", "reserve_share")
EQUIPMENT_KEYS = ("id", "name", "units")
QUOTA_KEYS = ("id", "scope", "category", "min_share", "max_share", "attribution", "soft", "penalty")
REQUEST_KEYS = ("id", "instruments", "shifts", "min_shifts", "equipment", "earliest", "latest", "unavailable")
PREVIOUS_KEYS = ("request", "instrument", "start_shift", "shifts", "pinned")
"""What a round file's entries take straight from their rows' columns."""
PROPOSAL_COLUMNS = (
    "id",
    "code",
    "title",
    "type",
    "type_confirmed",
    "owner_id",
    "pi_email",
    "pi_name",
    "pi_institution",
    "pi_country",
    "priority",
    "technically_feasible",
    "inadmissible_reason",
    "missed_rounds",
    "first_time_users",
    "early_career_pi",
    "bonus_facts_confirmed",
    "submitted",
)
"""What the export reads of a proposal's row, under the columns' own names."""


@dataclass(frozen=True, slots=True)
class Account:
    """What the export needs of a person's account: who it is and the country an admin or coordinator confirmed."""

    email: str
    confirmed_country: str | None


async def export_round(
    session: AsyncSession, round_id: int, *, fair_return: bool = True, proposals: bool = True
) -> c.RoundFile:
    """The round as a round file; `previous_schedule` is the published version, absent when there is none.

    Withdrawn proposals are left out, those declared inadmissible are not technically feasible,
    and a proposal's bonus facts, type and people's countries are written only as confirmed
    (`_confirmed_type`, `_confirmed_people`).
    The windows are those of the round's facilities and instruments that overlap its period.
    `fair_return` (`scheduler.rounds.fair_return`): the round's policy with the history of earlier rounds (False:
    none, to read a past round's delivered time). `proposals` False leaves out the proposals, and with them the
    published version's allocations (an empty `previous_schedule` says there is one), for checks of the rest
    (`scheduler.rounds.integrity`). A round that is no valid file yet (no facility, a proposal without requests)
    raises InputError.
    """
    round_ = await session.scalar(_ROUND, {"round_id": round_id})
    if round_ is None:
        raise LookupError(f"no round {round_id}")
    zone = round_zone(round_)
    exported, request_codes = await _export_proposals(session, round_id, zone) if proposals else ([], set())
    document = {
        "format": c.ROUND_FORMAT,
        "round": round_heading(round_),
        "country_groups": await _export_country_groups(session, round_id),
        "facilities": await _export_facilities(session, round_id, round_.start, round_.end, zone),
        "equipment": await _export_equipment(session, round_id),
        "quotas": await _export_quotas(session, round_id),
        "proposals": exported,
        "scoring": round_.scoring,
        "previous_schedule": await _export_published(session, round_id, request_codes),
        "fair_return": await round_fair_return(session, round_, partial(export_round, fair_return=False))
        if fair_return
        else None,
    }
    try:
        return c.RoundFile.model_validate(document)
    except ValidationError as error:
        raise InputError(problems_from_validation_error(error)) from None


def _columns(table: type[Any], keys: Sequence[str]) -> list[Any]:
    """The columns of `table` that a file's entries keep under `keys`: the same names, but `id` is a row's code."""
    return [col(getattr(table, "code" if key == "id" else key)) for key in keys]


_ROUND_ID: BindParameter[int] = bindparam("round_id")
"""The round a statement built once (as every statement a round's export runs for each round is) reads: building
one cost about as much CPU as running it, and a catalogue item's or quota's change exports its rounds to check
them."""
_ROUND = select(tables.Round).where(col(tables.Round.id) == _ROUND_ID)
_COUNTRY_GROUPS = (
    select(col(tables.CountryGroup.name), col(tables.CountryGroup.countries))
    .where(col(tables.CountryGroup.round_id) == _ROUND_ID)
    .order_by(col(tables.CountryGroup.position), col(tables.CountryGroup.id))
)
_FACILITIES = (
    select(col(tables.Facility.id), *_columns(tables.Facility, FACILITY_KEYS))
    .join(tables.RoundFacility, col(tables.RoundFacility.facility_id) == col(tables.Facility.id))
    .where(col(tables.RoundFacility.round_id) == _ROUND_ID)
    .order_by(col(tables.RoundFacility.position))
)
_INSTRUMENTS = (
    select(col(tables.Instrument.id), col(tables.Instrument.facility_id), *_columns(tables.Instrument, INSTRUMENT_KEYS))
    .join(tables.RoundInstrument, col(tables.RoundInstrument.instrument_id) == col(tables.Instrument.id))
    .where(col(tables.RoundInstrument.round_id) == _ROUND_ID)
    .order_by(col(tables.RoundInstrument.position))
)
_WINDOWS = (
    windows_on(bindparam("facility_ids", expanding=True), bindparam("instrument_ids", expanding=True))
    .where(col(tables.Window.start) < bindparam("end"), col(tables.Window.end) > bindparam("start"))
    .order_by(col(tables.Window.position), col(tables.Window.start), col(tables.Window.id))
)
_EQUIPMENT = (
    select(*_columns(tables.Equipment, EQUIPMENT_KEYS))
    .join(tables.RoundEquipment, col(tables.RoundEquipment.equipment_id) == col(tables.Equipment.id))
    .where(col(tables.RoundEquipment.round_id) == _ROUND_ID)
    .order_by(col(tables.RoundEquipment.position))
)
_QUOTAS = (
    select(*_columns(tables.Quota, QUOTA_KEYS))
    .where(col(tables.Quota.round_id) == _ROUND_ID)
    .order_by(col(tables.Quota.position), col(tables.Quota.id))
)
_PUBLISHED = select(col(tables.ScheduleVersion.id)).where(
    col(tables.ScheduleVersion.round_id) == _ROUND_ID, col(tables.ScheduleVersion.status) == "published"
)


async def _export_country_groups(session: AsyncSession, round_id: int) -> dict[str, list[str]]:
    rows = await session.execute(_COUNTRY_GROUPS, {"round_id": round_id})
    return dict(rows.all())


async def _export_facilities(
    session: AsyncSession, round_id: int, start: datetime, end: datetime, zone: timezone
) -> list[dict[str, Any]]:
    facilities = (await session.execute(_FACILITIES, {"round_id": round_id})).all()
    instruments = (await session.execute(_INSTRUMENTS, {"round_id": round_id})).all()
    windows = await session.execute(
        _WINDOWS,
        {
            "facility_ids": [facility.id for facility in facilities],
            "instrument_ids": [instrument.id for instrument in instruments],
            "start": start,
            "end": end,
        },
    )
    facility_windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    instrument_windows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for facility_id, instrument_id, window_start, window_end, kind, reason in windows:
        window = {
            "start": window_start.astimezone(zone),
            "end": window_end.astimezone(zone),
            "kind": kind,
            "reason": reason,
        }
        if facility_id is not None:
            facility_windows[facility_id].append(window)
        elif instrument_id is not None:
            instrument_windows[instrument_id].append(window)
    instruments_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for instrument_id, facility_id, *values in instruments:
        instrument = _entry(INSTRUMENT_KEYS, values) | {"maintenance": instrument_windows[instrument_id]}
        instruments_of[facility_id].append(instrument)
    return [
        _entry(FACILITY_KEYS, values)
        | {"maintenance": facility_windows[facility_id], "instruments": instruments_of[facility_id]}
        for facility_id, *values in facilities
    ]


async def _export_equipment(session: AsyncSession, round_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(_EQUIPMENT, {"round_id": round_id})
    return [_entry(EQUIPMENT_KEYS, row) for row in rows]


async def _export_quotas(session: AsyncSession, round_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(_QUOTAS, {"round_id": round_id})
    return [_entry(QUOTA_KEYS, row) for row in rows]


async def _export_proposals(
    session: AsyncSession, round_id: int, zone: timezone
) -> tuple[list[dict[str, Any]], set[str]]:
    """The round's proposals that are not withdrawn, and their requests' codes."""
    rows = await session.execute(
        select(*(col(getattr(tables.Proposal, name)) for name in PROPOSAL_COLUMNS))
        .where(col(tables.Proposal.round_id) == round_id, col(tables.Proposal.withdrawn).is_(False))
        .order_by(col(tables.Proposal.position), col(tables.Proposal.id))
    )
    # As dicts: a row's attributes are looked up by name at ~0.3 us each, 30 of them per proposal.
    proposals = [_entry(PROPOSAL_COLUMNS, row) for row in rows]
    of_round = select(col(tables.Proposal.id)).where(col(tables.Proposal.round_id) == round_id)
    team = await _per_proposal(session, tables.TeamMember, of_round, ("name", "institution", "country", "email"))
    submitted = {proposal["id"] for proposal in proposals if proposal["submitted"]}
    accounts = await _accounts(session, [proposal for proposal in proposals if proposal["id"] in submitted], team)
    reviews = await _export_reviews(session, of_round)
    links = await _per_proposal(
        session, tables.Link, of_round, ("type", "requests", "first", "then", "min_gap_shifts", "max_gap_shifts")
    )
    exported = {proposal["id"] for proposal in proposals}
    requests: dict[int, list[dict[str, Any]]] = defaultdict(list)
    request_codes: set[str] = set()
    request_rows = await session.execute(
        select(col(tables.Request.proposal_id), *_columns(tables.Request, REQUEST_KEYS))
        .where(col(tables.Request.round_id) == round_id)
        .order_by(col(tables.Request.proposal_id), col(tables.Request.position), col(tables.Request.id))
    )
    for proposal_id, *values in request_rows:
        if proposal_id not in exported:
            continue
        request = _entry(REQUEST_KEYS, values)
        request_codes.add(request["id"])
        for moment in ("earliest", "latest"):
            if request[moment] is not None:
                request[moment] = request[moment].astimezone(zone)
        requests[proposal_id].append(request)
    return [
        {
            "id": proposal["code"],
            "title": proposal["title"],
            "type": _confirmed_type(proposal),
            **_confirmed_people(proposal, team[proposal["id"]], accounts if proposal["id"] in submitted else None),
            "priority": proposal["priority"],
            "reviews": reviews[proposal["id"]],
            # A proposal its coordinators declared inadmissible gets no time, as one not feasible.
            "technically_feasible": proposal["technically_feasible"] and proposal["inadmissible_reason"] is None,
            "requests": requests[proposal["id"]],
            "links": [_link_entry(link) for link in links[proposal["id"]]],
            **_bonus_facts(proposal),
        }
        for proposal in proposals
    ], request_codes


def _confirmed_type(proposal: dict[str, Any]) -> str:
    """An `in_house` or `industrial` type counts once the facility's coordinators confirmed it; until then, standard."""
    if proposal["type"] in UNCONFIRMED_TYPES and not proposal["type_confirmed"]:
        return "standard"
    return str(proposal["type"])


async def _accounts(
    session: AsyncSession, proposals: Sequence[dict[str, Any]], team: dict[int, list[dict[str, Any]]]
) -> dict[int | str, Account]:
    """The accounts the people of these proposals are, by id (owners) and by e-mail (PIs and team members)."""
    owners = {proposal["owner_id"] for proposal in proposals if proposal["owner_id"] is not None}
    emails = {proposal["pi_email"] for proposal in proposals if proposal["pi_email"]} | {
        member["email"] for proposal in proposals for member in team[proposal["id"]] if member["email"]
    }
    if not owners and not emails:
        return {}
    rows = await session.execute(
        select(
            col(tables.User.id), col(tables.User.email), col(tables.User.country), col(tables.User.country_confirmed)
        ).where(or_(col(tables.User.id).in_(owners), col(tables.User.email).in_(emails)))
    )
    accounts: dict[int | str, Account] = {}
    for user_id, email, country, confirmed in rows:
        assert user_id is not None, "stored rows have ids"
        account = Account(email, country if confirmed else None)
        accounts[user_id] = accounts[email] = account
    return accounts


def _confirmed_people(
    proposal: dict[str, Any], team: list[dict[str, Any]], accounts: dict[int | str, Account] | None
) -> dict[str, Any]:
    """The PI and team as the file gives them, countries as confirmed.

    The countries of a proposal a proposer submitted (`accounts` given) are their claims:
    each person's country is their account's confirmed one (the owner is the PI unless
    `pi_email` names someone else; team members are found by e-mail), and anyone else's
    is written unconfirmed, so it counts in no country's quota. Other proposals came
    from a coordinator's round file (`accounts` None), whose countries are theirs.
    """
    known = accounts or {}

    def person(name: str, institution: str, country: str, email: str | None, account: Account | None) -> dict[str, Any]:
        if accounts is not None:
            if account is None or account.confirmed_country is None:
                return {**_person(name, institution, country, email), "country_confirmed": False}
            country = account.confirmed_country
        return _person(name, institution, country, email)

    owner = known.get(proposal["owner_id"]) if proposal["owner_id"] is not None else None
    pi_account = owner if not proposal["pi_email"] or (owner and owner.email == proposal["pi_email"]) else None
    pi_account = pi_account or known.get(proposal["pi_email"] or "")
    return {
        "pi": person(
            proposal["pi_name"],
            proposal["pi_institution"],
            proposal["pi_country"],
            pi_account.email if pi_account else proposal["pi_email"],
            pi_account,
        ),
        "team": [
            person(
                member["name"],
                member["institution"],
                member["country"],
                member["email"],
                known.get(member["email"] or ""),
            )
            for member in team
        ],
    }


def _person(name: str, institution: str, country: str, email: str | None) -> dict[str, Any]:
    return {"name": name, "institution": institution, "country": country, "email": email}


def _bonus_facts(proposal: dict[str, Any]) -> dict[str, Any]:
    """Confirmed facts only: a proposer's unconfirmed claim earns no bonus in any score or solve of the file."""
    confirmed = proposal["bonus_facts_confirmed"]
    return {
        "missed_rounds": proposal["missed_rounds"] if confirmed else 0,
        "first_time_users": proposal["first_time_users"] and confirmed,
        "early_career_pi": proposal["early_career_pi"] and confirmed,
    }


async def _export_reviews(session: AsyncSession, of_round: Select[Any]) -> dict[int, list[dict[str, Any]]]:
    """Each review under its reviewer's identity, the account's e-mail as it is now (the one assignments were
    checked on), so that scoring decides conflicts on the same identity; a voided review is written conflicted."""
    rows = await session.execute(
        select(
            col(tables.Review.proposal_id),
            func.coalesce(col(tables.User.email), col(tables.Review.reviewer)),
            col(tables.Review.grade),
            col(tables.Review.conflict),
            col(tables.Review.voided_at),
        )
        .outerjoin(tables.User, col(tables.User.id) == col(tables.Review.reviewer_id))
        .where(col(tables.Review.proposal_id).in_(of_round))
        .order_by(col(tables.Review.proposal_id), col(tables.Review.position), col(tables.Review.id))
    )
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for proposal_id, reviewer, grade, conflict, voided_at in rows:
        grouped[proposal_id].append(
            {"reviewer": reviewer, "grade": grade, "conflict": conflict or voided_at is not None}
        )
    return grouped


async def _per_proposal(
    session: AsyncSession, table: type[tables.TeamMember | tables.Link], of_round: Select[Any], keys: tuple[str, ...]
) -> dict[int, list[dict[str, Any]]]:
    """The `keys` columns of `table`'s rows (a proposal's team, reviews or links) per proposal id, in file order."""
    rows = await session.execute(
        select(col(table.proposal_id), *_columns(table, keys))
        .where(col(table.proposal_id).in_(of_round))
        .order_by(col(table.proposal_id), col(table.position), col(table.id))
    )
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for proposal_id, *values in rows:
        grouped[proposal_id].append(_entry(keys, values))
    return grouped


def _entry(keys: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    return dict(zip(keys, values, strict=True))


def _link_entry(link: dict[str, Any]) -> dict[str, Any]:
    """An all-or-nothing link names its requests; an `after` link, its two requests and the gap between them."""
    if link["type"] == "all_or_nothing":
        return {"type": link["type"], "requests": link["requests"]}
    return {key: link[key] for key in ("type", "first", "then", "min_gap_shifts", "max_gap_shifts")}


async def _export_published(session: AsyncSession, round_id: int, exported: set[str]) -> list[dict[str, Any]] | None:
    """The published version's allocations of the `exported` requests (withdrawn proposals' are left out)."""
    published = await session.scalar(_PUBLISHED, {"round_id": round_id})
    if published is None:
        return None
    # Read as rows: the file keeps no times or proposals, so a schedule file of the version (its allocations made as
    # models, their times worked out) was most of this function's ~80 ms on a facility round.
    placings = await session.execute(
        allocations_in_codes().where(col(tables.Allocation.schedule_version_id) == published)
    )
    # By position, found once from the result's names: a row's attribute by name costs ~0.3 us, six per allocation.
    names = list(placings.keys())
    entry = itemgetter(*(names.index(key) for key in PREVIOUS_KEYS))
    request = names.index("request")
    return [_entry(PREVIOUS_KEYS, entry(placing)) for placing in placings if placing[request] in exported]
