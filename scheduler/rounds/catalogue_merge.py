"""A round file's catalogue part merged into the catalogue that rounds share.

Facilities, instruments and equipment are added or updated by code and never
removed. For the windows of its facilities and instruments in its period the file
is the truth (identical windows are kept, not duplicated), except that a window
another round's period relies on is never deleted. The other rounds a change
reaches get a new input revision (`scheduler.rounds.revision`), the merge is
audited item by item, and the published allocations of other rounds that a new
window now blocks are named, for the nightly repair of their rounds to move.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from scheduler.db.repository import record
from scheduler.db.tables import (
    Equipment,
    Facility,
    Instrument,
    Round,
    RoundFacility,
    ScheduleVersion,
    Window,
)
from scheduler.roundfile import contract as c
from scheduler.rounds.revision import rounds_of_equipment, rounds_of_facilities, touch_rounds
from scheduler.schedules.versions import allocations_in_codes

WindowKey = tuple[int | None, int | None, datetime, datetime, str, str]
"""A window's identity: facility id, instrument id, start, end, kind, reason."""


@dataclass
class CatalogueMerge:
    """What a round file changed in the shared catalogue, item by item, and what that does to other rounds."""

    added: dict[str, list[str]] = field(default_factory=dict)
    """Per kind (facility, instrument, equipment, window): the items the file added."""
    changed: dict[str, list[str]] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    """Items the file gives as they were stored, and windows another round relies on that the file leaves out."""
    removed: list[str] = field(default_factory=list)
    """Windows in the round's period that only this round relied on and the file no longer has."""
    disrupted: list[dict[str, str]] = field(default_factory=list)
    """Published allocations of other rounds that a window the file added now blocks."""
    rounds: set[int] = field(default_factory=set)
    """Other rounds whose solve input changed."""
    facility_ids: dict[str, int] = field(default_factory=dict)
    instrument_ids: dict[str, int] = field(default_factory=dict)
    equipment_ids: dict[str, int] = field(default_factory=dict)
    """Code → id of the file's catalogue items, as merged."""
    added_windows: list[WindowKey] = field(default_factory=list)

    def note(self, kind: str, outcome: str, items: Sequence[str]) -> None:
        if items:
            getattr(self, outcome).setdefault(kind, []).extend(items)

    def audit(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "kept": self.kept,
            "removed_windows": self.removed,
            "other_rounds": sorted(self.rounds),
            "disrupted_published_allocations": self.disrupted,
        }


async def merge_catalogue(session: AsyncSession, round_file: c.RoundFile, into: int | None) -> CatalogueMerge:
    """Merges the file's facilities, instruments, equipment and windows (`into`: the round it replaces)."""
    merge = CatalogueMerge()
    merge.facility_ids, merge.instrument_ids = await _upsert_facilities(session, round_file.facilities, merge)
    merge.equipment_ids = await _upsert_equipment(session, round_file.equipment, merge)
    merge.added_windows = await _merge_windows(
        session, round_file, into, merge.facility_ids, merge.instrument_ids, merge
    )
    return merge


async def settle_merge(session: AsyncSession, merge: CatalogueMerge, round_id: int) -> None:
    """Once the round is written: counts the change for the other rounds it reaches, names the published
    allocations of other rounds its new windows block, and audits the merge item by item."""
    if merge.added or merge.changed or merge.removed:
        changed_equipment = [merge.equipment_ids[code] for code in merge.changed.get("equipment", [])]
        reached = await rounds_of_facilities(session, set(merge.facility_ids.values()))
        merge.rounds = (reached | await rounds_of_equipment(session, changed_equipment)) - {round_id}
        await touch_rounds(session, merge.rounds)
    merge.disrupted = await _disrupted_allocations(session, round_id, merge.added_windows)
    await record(session, None, "round.catalogue_merge", "round", round_id, merge.audit())


async def insert_rows(session: AsyncSession, table: type[Any], rows: Sequence[Mapping[str, Any]]) -> None:
    """One bulk insert; an empty list would insert a row of defaults."""
    if rows:
        await session.execute(insert(table).execution_options(render_nulls=True), rows)


async def insert_returning_ids(
    session: AsyncSession, table: type[Any], rows: Sequence[Mapping[str, Any]]
) -> dict[str, int]:
    """Inserts rows that have a `code` and returns code → new id.

    `render_nulls` keeps the None values in, so all rows have the same columns and
    go in a few multi-row statements instead of one statement per run of alike rows.
    """
    if not rows:
        return {}
    statement = insert(table).returning(table.code, table.id).execution_options(render_nulls=True)
    return dict((await session.execute(statement, rows)).all())


async def _upsert(
    session: AsyncSession, table: type[Any], rows: Sequence[dict[str, Any]], merge: CatalogueMerge, kind: str
) -> dict[str, int]:
    """Updates the catalogue rows whose code exists and differs, inserts the others; returns code → id."""
    codes = [row["code"] for row in rows]
    columns = [getattr(table, name) for name in rows[0]] if rows else []
    stored = {
        values.code: values
        for values in (
            await session.execute(select(table.id, table.version, *columns).where(table.code.in_(codes)))
        ).mappings()
    }
    existing: dict[str, int] = {code: values["id"] for code, values in stored.items()}
    changed = [
        {**row, "id": existing[row["code"]], "version": stored[row["code"]]["version"]}
        for row in rows
        if row["code"] in stored and any(stored[row["code"]][name] != value for name, value in row.items())
    ]
    if changed:
        await session.execute(update(table), changed)
    added = await insert_returning_ids(session, table, [row for row in rows if row["code"] not in existing])
    merge.note(kind, "added", list(added))
    merge.note(kind, "changed", [row["code"] for row in changed])
    changed_codes = {row["code"] for row in changed}
    merge.note(kind, "kept", [code for code in existing if code not in changed_codes])
    return existing | added


async def _upsert_facilities(
    session: AsyncSession, facilities: Sequence[c.Facility], merge: CatalogueMerge
) -> tuple[dict[str, int], dict[str, int]]:
    facility_ids = await _upsert(
        session,
        Facility,
        [
            {"code": facility.id, "name": facility.name, "country": facility.country, "timezone": facility.timezone}
            for facility in facilities
        ],
        merge,
        "facility",
    )
    instrument_ids = await _upsert(
        session,
        Instrument,
        [
            {
                "code": instrument.id,
                "name": instrument.name,
                "techniques": instrument.techniques,
                "changeover_shifts": instrument.changeover_shifts,
                "reserve_share": instrument.reserve_share,
                "facility_id": facility_ids[facility.id],
                "position": position,
            }
            for facility in facilities
            for position, instrument in enumerate(facility.instruments)
        ],
        merge,
        "instrument",
    )
    return facility_ids, instrument_ids


async def _upsert_equipment(
    session: AsyncSession, equipment: Sequence[c.Equipment], merge: CatalogueMerge
) -> dict[str, int]:
    rows = [{"code": item.id, "name": item.name, "units": item.units} for item in equipment]
    return await _upsert(session, Equipment, rows, merge, "equipment") if rows else {}


async def _merge_windows(
    session: AsyncSession,
    round_file: c.RoundFile,
    into: int | None,
    facility_ids: Mapping[str, int],
    instrument_ids: Mapping[str, int],
    merge: CatalogueMerge,
) -> list[WindowKey]:
    """Makes the file the truth about its facilities' and instruments' windows in the round's period, as far
    as no other round relies on them; the windows it added.

    Windows already stored identically stay (taking the file's order) and the file's
    new ones are added. A stored one in the period that the file no longer has is
    deleted (a moved maintenance window does not linger as a second one) unless the
    period of another round holding its facility overlaps it: that round relies on it.
    Windows of other owners, and outside the period, are other rounds' business.
    """
    facility_of_instrument = {
        instrument_ids[instrument.id]: facility_ids[facility.id]
        for facility in round_file.facilities
        for instrument in facility.instruments
    }
    wanted: list[tuple[WindowKey, int]] = []
    for facility in round_file.facilities:
        for position, window in enumerate(facility.maintenance):
            wanted.append((_window_key(facility_ids[facility.id], None, window), position))
        for instrument in facility.instruments:
            for position, window in enumerate(instrument.maintenance):
                wanted.append((_window_key(None, instrument_ids[instrument.id], window), position))
    stored = await session.execute(
        windows_on(
            list(facility_ids.values()),
            list(instrument_ids.values()),
            col(Window.id),
            col(Window.position),
            col(Window.version),
        ).order_by(col(Window.id))
    )
    unmatched: dict[WindowKey, list[tuple[int, int, int]]] = defaultdict(list)
    for facility_id, instrument_id, start, end, kind, reason, window_id, stored_position, version in stored:
        if window_id is not None:
            unmatched[(facility_id, instrument_id, start, end, kind, reason)].append(
                (window_id, stored_position, version)
            )
    moved, added, added_keys = [], [], []
    for key, position in wanted:
        if unmatched[key]:
            window_id, stored_position, version = unmatched[key].pop(0)
            if stored_position != position:
                moved.append({"id": window_id, "position": position, "version": version})
        else:
            facility_id, instrument_id, start, end, kind, reason = key
            added_keys.append(key)
            added.append(
                {
                    "facility_id": facility_id,
                    "instrument_id": instrument_id,
                    "start": start,
                    "end": end,
                    "kind": kind,
                    "reason": reason,
                    "position": position,
                }
            )
    period = round_file.round
    others = await _other_rounds_periods(session, into, set(facility_ids.values()))
    dropped: list[int] = []
    relied_on: list[str] = []
    for key, leftovers in unmatched.items():
        window_ids = [window_id for window_id, _, _ in leftovers]
        facility_id, instrument_id, start, end, _, _ = key
        if not window_ids or not (start < period.end and end > period.start):
            continue
        home = facility_id if facility_id is not None else facility_of_instrument.get(instrument_id or 0)
        if any(start < other_end and end > other_start for other_start, other_end in others.get(home or 0, [])):
            relied_on.extend(_window_name(key, window_id) for window_id in window_ids)
        else:
            dropped.extend(window_ids)
            merge.removed.extend(_window_name(key, window_id) for window_id in window_ids)
    if dropped:
        await session.execute(
            delete(Window).where(col(Window.id).in_(dropped)).execution_options(synchronize_session=False)
        )
    if moved:
        await session.execute(update(Window), moved)
    await insert_rows(session, Window, added)
    merge.note("window", "added", [_window_name(key) for key in added_keys])
    merge.note("window", "kept", relied_on)
    return added_keys


Ids = Sequence[int] | BindParameter[Any]
"""Row ids, or an expanding bound parameter that gives them when the statement runs."""


def windows_on(facility_ids: Ids, instrument_ids: Ids, *then: Any) -> Select[Any]:
    """The windows on these facilities or instruments: each one's identity (`WindowKey`), then the `then` columns.
    The ids are given, or bound when the statement runs (expanding parameters, for a statement built once)."""
    return select(
        col(Window.facility_id),
        col(Window.instrument_id),
        col(Window.start),
        col(Window.end),
        col(Window.kind),
        col(Window.reason),
        *then,
    ).where(or_(col(Window.facility_id).in_(facility_ids), col(Window.instrument_id).in_(instrument_ids)))


async def _other_rounds_periods(
    session: AsyncSession, into: int | None, facility_ids: Collection[int]
) -> dict[int, list[tuple[datetime, datetime]]]:
    """Per facility, the periods of the other rounds that hold it."""
    rows = await session.execute(
        select(col(RoundFacility.facility_id), col(Round.start), col(Round.end))
        .join(Round, col(Round.id) == col(RoundFacility.round_id))
        .where(col(RoundFacility.facility_id).in_(list(facility_ids)), col(Round.id) != (into or 0))
    )
    periods: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for facility_id, start, end in rows:
        periods[facility_id].append((start, end))
    return periods


async def _disrupted_allocations(
    session: AsyncSession, round_id: int, added_windows: Sequence[WindowKey]
) -> list[dict[str, str]]:
    """The published allocations of other rounds that overlap a window the file added on their instrument or its
    facility: they now break a rule, and the nightly repair of their round moves them."""
    if not added_windows:
        return []
    facilities = {key[0] for key in added_windows if key[0] is not None}
    instruments = {key[1] for key in added_windows if key[1] is not None}
    rows = await session.execute(
        allocations_in_codes(
            col(Round.code), col(Round.start), col(Round.shift_hours), col(Instrument.id), col(Instrument.facility_id)
        )
        .join(Round, col(Round.id) == col(ScheduleVersion.round_id))
        .where(
            col(ScheduleVersion.status) == "published",
            col(Round.id) != round_id,
            or_(col(Instrument.facility_id).in_(facilities), col(Instrument.id).in_(instruments)),
        )
    )
    disrupted = []
    for row in sorted(rows, key=lambda row: row[0]):  # by round, each in the order written
        round_code, round_start, hours, instrument_id, facility_id, _, request, instrument, first, shifts, _ = row
        start = round_start + timedelta(hours=hours * first)
        end = start + timedelta(hours=hours * shifts)
        for key in added_windows:
            on_it = key[0] == facility_id or key[1] == instrument_id
            if on_it and key[2] < end and key[3] > start:
                window = _window_name(key)
                disrupted.append({"round": round_code, "request": request, "instrument": instrument, "window": window})
                break
    return disrupted


def _window_name(key: WindowKey, window_id: int | None = None) -> str:
    """A window as an audit entry names it: its kind and period in UTC, and its id when stored."""
    _, _, start, end, kind, _ = key
    stored = "" if window_id is None else f"window {window_id}: "
    return f"{stored}{kind} {start.astimezone(UTC).isoformat()}/{end.astimezone(UTC).isoformat()}"


def _window_key(facility_id: int | None, instrument_id: int | None, window: c.Window) -> WindowKey:
    return (facility_id, instrument_id, window.start, window.end, window.kind, window.reason)
