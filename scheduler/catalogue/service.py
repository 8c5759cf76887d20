"""The catalogue a facility keeps: facilities, instruments, windows and equipment.

Everyone signed in may read it; a facility and what belongs to it (instruments, windows,
equipment) are changed by its coordinators and admins (`scheduler.access`). Every change
writes an audit entry in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, ClassVar, Generic

from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.service import OffsetPagination
from pydantic import BaseModel
from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from scheduler import access
from scheduler.access import Facts, Operation
from scheduler.accounts.schemas import Claims
from scheduler.catalogue.schemas import (
    EquipmentCreate,
    EquipmentPublic,
    EquipmentUpdate,
    FacilityCreate,
    FacilityPublic,
    FacilityUpdate,
    InstrumentCreate,
    InstrumentPublic,
    InstrumentUpdate,
    WindowCreate,
    WindowPublic,
    WindowUpdate,
    require_end_after_start,
)
from scheduler.db.repository import PublicT, TableService, TableT, lock_all, next_position, row_id
from scheduler.db.tables import (
    Equipment,
    Facility,
    Instrument,
    Request,
    Round,
    RoundEquipment,
    RoundFacility,
    RoundInstrument,
    Window,
)
from scheduler.errors import Conflict
from scheduler.fields import Update
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.rounds.integrity import (
    keeping_valid,
    rounds_using_facility,
    rounds_using_instruments,
)
from scheduler.rounds.revision import rounds_of_equipment, rounds_of_facilities


class _CatalogueService(TableService[TableT], Generic[TableT, PublicT]):
    """What every kind of catalogue item is read and changed by; `public` is how the API shows one."""

    public: type[PublicT]

    async def read(self, item_id: int) -> PublicT:
        return self.public.model_validate(await self.row(item_id))

    async def _create(self, actor: Claims, row: TableT, data: BaseModel) -> PublicT:
        """Adds the row, audited with the body as sent."""
        return self.public.model_validate(await self.add(actor, row, data.model_dump(mode="json")))

    async def _change_in_rounds(
        self, actor: Claims, row: TableT, data: Update, rounds: Collection[int], what: str
    ) -> PublicT:
        """A change the `rounds` using the item must stay valid under (`keeping_valid`), or nothing changes."""
        async with keeping_valid(self.repository.session, rounds, f"changing {what}"):
            return self.public.model_validate(await self.patch(actor, row, data))


class _ListedWhole(_CatalogueService[TableT, PublicT]):
    """A kind listed whole, in code order (facilities, equipment); instruments and windows are listed per parent."""

    table: ClassVar[type[Facility] | type[Equipment]]

    async def list_page(self, page: LimitOffset) -> OffsetPagination[PublicT]:
        return await self.page(page, select(self.table).order_by(col(self.table.code)), self.public)


class FacilityService(_ListedWhole[Facility, FacilityPublic]):
    noun = "facility"
    public = FacilityPublic

    async def create_item(self, actor: Claims, data: FacilityCreate) -> FacilityPublic:
        access.require(actor, Operation.CREATE_FACILITY, Facts(), "facilities")
        await code_is_free(self.repository.session, Facility, data.code)
        return await self._create(actor, Facility(**data.model_dump()), data)

    async def update_item(self, actor: Claims, facility_id: int, data: FacilityUpdate) -> FacilityPublic:
        facility = await self.row(facility_id)
        access.require(actor, Operation.CHANGE_FACILITY, _of(facility_id), f"facility {facility.code}")
        rounds = await rounds_using_facility(self.repository.session, facility_id)
        return await self._change_in_rounds(actor, facility, data, rounds, f"facility {facility.code}")

    async def delete_item(self, actor: Claims, facility_id: int) -> None:
        """Refused while instruments, windows or rounds refer to it."""
        facility = await self.row(facility_id)
        access.require(actor, Operation.DELETE_FACILITY, _of(facility_id), f"facility {facility.code}")
        session = self.repository.session
        for table in (Instrument, Window, RoundFacility):
            if await _refers_to(session, table, col(table.facility_id) == facility_id):
                raise Conflict(f"{table.__name__} rows refer to facility {facility.code}: it is kept")
        await self.remove(actor, facility, {"code": facility.code})


class InstrumentService(_CatalogueService[Instrument, InstrumentPublic]):
    noun = "instrument"
    public = InstrumentPublic

    async def list_page(self, page: LimitOffset, facility_id: int) -> OffsetPagination[InstrumentPublic]:
        await FacilityService(session=self.repository.session).row(facility_id)
        query = select(Instrument).where(col(Instrument.facility_id) == facility_id).order_by(col(Instrument.position))
        return await self.page(page, query, InstrumentPublic)

    async def create_item(self, actor: Claims, facility_id: int, data: InstrumentCreate) -> InstrumentPublic:
        session = self.repository.session
        facility = await FacilityService(session=session).row(facility_id)
        access.require(actor, Operation.CHANGE_FACILITY_ITEM, _of(facility_id), f"facility {facility.code}")
        await code_is_free(session, Instrument, data.code)
        position = await next_position(session, col(Instrument.position), col(Instrument.facility_id) == facility_id)
        instrument = Instrument(**data.model_dump(), facility_id=facility_id, position=position)
        created = await self._create(actor, instrument, data)
        await self._join_rounds_in_preparation(instrument)
        return created

    async def _join_rounds_in_preparation(self, instrument: Instrument) -> None:
        """A new instrument is offered in its facility's rounds that have not been allocated yet."""
        session = self.repository.session
        rounds = await session.execute(
            select(col(RoundFacility.round_id))
            .join(Round, col(Round.id) == col(RoundFacility.round_id))
            .where(col(RoundFacility.facility_id) == instrument.facility_id, col(Round.phase).in_(("open", "review")))
        )
        for round_id in rounds.scalars():
            last = await session.scalar(
                select(func.max(col(RoundInstrument.position))).where(col(RoundInstrument.round_id) == round_id)
            )
            session.add(RoundInstrument(round_id=round_id, instrument_id=row_id(instrument), position=(last or 0) + 1))
        await session.flush()

    async def update_item(self, actor: Claims, instrument_id: int, data: InstrumentUpdate) -> InstrumentPublic:
        instrument = await self.row(instrument_id)
        access.require(
            actor, Operation.CHANGE_FACILITY_ITEM, _of(instrument.facility_id), f"instrument {instrument.code}"
        )
        rounds = await rounds_using_instruments(self.repository.session, [instrument_id])
        return await self._change_in_rounds(actor, instrument, data, rounds, f"instrument {instrument.code}")

    async def delete_item(self, actor: Claims, instrument_id: int) -> None:
        """With its windows; refused while a request of any round asks for it, which would then name nothing.
        The rounds that could ask for it are locked first: a submission checks its instruments under its round's
        lock."""
        instrument = await self.row(instrument_id)
        session = self.repository.session
        access.require(
            actor, Operation.CHANGE_FACILITY_ITEM, _of(instrument.facility_id), f"instrument {instrument.code}"
        )
        await lock_all(session, Round, await rounds_of_facilities(session, [instrument.facility_id]))
        asked_in = await session.execute(
            select(col(Request.code), col(Request.instruments))
            .join(RoundFacility, col(RoundFacility.round_id) == col(Request.round_id))
            .where(col(RoundFacility.facility_id) == instrument.facility_id)
        )
        requests = [code for code, instruments in asked_in if instrument.code in instruments]
        if requests:
            raise Conflict(f"requests {', '.join(requests[:5])} ask for instrument {instrument.code}: it is kept")
        await session.execute(delete(Window).where(col(Window.instrument_id) == instrument_id))
        await session.execute(delete(RoundInstrument).where(col(RoundInstrument.instrument_id) == instrument_id))
        await self.remove(actor, instrument, {"code": instrument.code})


class WindowService(_CatalogueService[Window, WindowPublic]):
    noun = "window"
    public = WindowPublic

    async def _add_window(self, actor: Claims, facility_id: int, window: Window, data: WindowCreate) -> WindowPublic:
        """Kept by the coordinators of the facility the window blocks (all of it or one instrument)."""
        access.require(actor, Operation.CHANGE_FACILITY_ITEM, _of(facility_id), "the facility's windows")
        return await self._create(actor, window, data)

    async def update_item(self, actor: Claims, window_id: int, data: WindowUpdate) -> WindowPublic:
        window = await self.locked_row(window_id)
        facility_id = await self._facility_of(window)
        access.require(actor, Operation.CHANGE_FACILITY_ITEM, _of(facility_id), f"window {window_id}")
        changes = data.changes()
        require_end_after_start(changes.get("start", window.start), changes.get("end", window.end))
        rounds = await rounds_using_facility(self.repository.session, facility_id)
        return await self._change_in_rounds(actor, window, data, rounds, f"window {window_id}")

    async def delete_item(self, actor: Claims, window_id: int) -> None:
        window = await self.locked_row(window_id)
        access.require(
            actor, Operation.CHANGE_FACILITY_ITEM, _of(await self._facility_of(window)), f"window {window_id}"
        )
        await self.remove(actor, window, _window_detail(window))

    async def _facility_of(self, window: Window) -> int:
        if window.facility_id is not None:
            return window.facility_id
        assert window.instrument_id is not None
        return (await InstrumentService(session=self.repository.session).row(window.instrument_id)).facility_id


class FacilityWindowService(WindowService):
    """The windows set on a facility as a whole."""

    async def list_page(self, page: LimitOffset, facility_id: int) -> OffsetPagination[WindowPublic]:
        await FacilityService(session=self.repository.session).row(facility_id)
        return await self.page(page, _windows().where(col(Window.facility_id) == facility_id), WindowPublic)

    async def create_item(self, actor: Claims, facility_id: int, data: WindowCreate) -> WindowPublic:
        await FacilityService(session=self.repository.session).row(facility_id)
        window = Window(**data.model_dump(), facility_id=facility_id)
        return await self._add_window(actor, facility_id, window, data)


class InstrumentWindowService(WindowService):
    """The windows set on one instrument alone."""

    async def list_page(self, page: LimitOffset, instrument_id: int) -> OffsetPagination[WindowPublic]:
        await InstrumentService(session=self.repository.session).row(instrument_id)
        return await self.page(page, _windows().where(col(Window.instrument_id) == instrument_id), WindowPublic)

    async def create_item(self, actor: Claims, instrument_id: int, data: WindowCreate) -> WindowPublic:
        instrument = await InstrumentService(session=self.repository.session).row(instrument_id)
        window = Window(**data.model_dump(), instrument_id=instrument_id)
        return await self._add_window(actor, instrument.facility_id, window, data)


class EquipmentService(_ListedWhole[Equipment, EquipmentPublic]):
    """Sample environment rounds share, kept by the facility that owns it; legacy items without one, by admins."""

    noun = "equipment"
    public = EquipmentPublic

    async def create_item(self, actor: Claims, data: EquipmentCreate) -> EquipmentPublic:
        session = self.repository.session
        facility_id = await session.scalar(select(col(Facility.id)).where(col(Facility.code) == data.facility))
        if facility_id is None:
            raise InputError([InputProblem("$.facility", f"no facility with code {data.facility!r}")])
        access.require(actor, Operation.CHANGE_FACILITY_ITEM, _of(facility_id), f"facility {data.facility}")
        await code_is_free(session, Equipment, data.code)
        item = Equipment(**data.model_dump(exclude={"facility"}), facility_id=facility_id)
        return await self._create(actor, item, data)

    async def update_item(self, actor: Claims, equipment_id: int, data: EquipmentUpdate) -> EquipmentPublic:
        item = await self.row(equipment_id)
        access.require(actor, Operation.CHANGE_FACILITY_ITEM, _of(item.facility_id), f"equipment {item.code}")
        rounds = await rounds_of_equipment(self.repository.session, [equipment_id])
        return await self._change_in_rounds(actor, item, data, rounds, f"equipment {item.code}")

    async def delete_item(self, actor: Claims, equipment_id: int) -> None:
        """Refused while a round offers it."""
        item = await self.row(equipment_id)
        access.require(actor, Operation.CHANGE_FACILITY_ITEM, _of(item.facility_id), f"equipment {item.code}")
        if await _refers_to(self.repository.session, RoundEquipment, col(RoundEquipment.equipment_id) == equipment_id):
            raise Conflict(f"rounds offer equipment {item.code}: it is kept")
        await self.remove(actor, item, {"code": item.code})


def _of(facility_id: int | None) -> Facts:
    """The facts of a thing kept by one facility; None (legacy equipment) is nobody's facility but admins'."""
    return Facts(facilities=frozenset() if facility_id is None else frozenset({facility_id}))


async def code_is_free(
    session: AsyncSession, table: type[Facility | Instrument | Equipment | Round], code: str
) -> None:
    """Codes are unique among facilities, instruments, equipment and rounds each: files name things by them."""
    if await session.scalar(select(col(table.id)).where(col(table.code) == code)) is not None:
        raise Conflict(f"a {table.__name__.lower()} with code {code!r} exists already")


async def existing_ids_by_code(
    session: AsyncSession, table: type[Facility | Equipment], codes: Collection[str]
) -> dict[str, int]:
    """Code -> id of those of the `codes` that are `table` rows; the others are left out."""
    rows = await session.execute(select(col(table.code), col(table.id)).where(col(table.code).in_(codes)))
    return {code: id_ for code, id_ in rows if id_ is not None}


async def ids_by_code(
    session: AsyncSession, table: type[Facility | Equipment], codes: Sequence[str], path: str
) -> dict[str, int]:
    """Code -> id of the `codes`; InputError naming each one that is no `table` row at `path`[index]."""
    found = await existing_ids_by_code(session, table, codes)
    problems = [
        InputProblem(f"{path}[{index}]", f"no {table.__name__.lower()} with code {code!r}")
        for index, code in enumerate(codes)
        if code not in found
    ]
    if problems:
        raise InputError(problems)
    return found


async def _refers_to(session: AsyncSession, table: type[SQLModel], condition: Any) -> bool:
    return await session.scalar(select(func.count()).select_from(table).where(condition)) != 0


def _windows() -> Select[Any]:
    return select(Window).order_by(col(Window.start), col(Window.id))


def _window_detail(window: Window) -> dict[str, Any]:
    return WindowPublic.model_validate(window).model_dump(mode="json")
