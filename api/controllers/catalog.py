"""Facilities, instruments, windows and equipment: read by everyone signed in, kept by coordinators."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody

from api.controllers import BEARER
from api.params import CurrentUser, Id, Session
from scheduler.catalogue import service as catalog
from scheduler.catalogue.service import (
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
)


class FacilityController(Controller):
    path = "/facilities"
    tags = ("catalogue",)
    security = BEARER

    @get(summary="List facilities")
    async def list_facilities(self, db_session: Session, current_user: CurrentUser) -> list[FacilityPublic]:
        return await catalog.list_facilities(db_session)

    @post(summary="Create a facility (admins)")
    async def create(
        self, data: JSONBody[FacilityCreate], db_session: Session, current_user: CurrentUser
    ) -> FacilityPublic:
        return await catalog.create_facility(db_session, current_user, data)

    @get("/{facility_id:int}", summary="One facility")
    async def get_facility(self, facility_id: Id, db_session: Session, current_user: CurrentUser) -> FacilityPublic:
        return await catalog.get_facility(db_session, facility_id)

    @patch("/{facility_id:int}", summary="Change a facility (its coordinators)")
    async def update(
        self, facility_id: Id, data: JSONBody[FacilityUpdate], db_session: Session, current_user: CurrentUser
    ) -> FacilityPublic:
        return await catalog.update_facility(db_session, current_user, facility_id, data)

    @delete("/{facility_id:int}", summary="Delete a facility nothing refers to (admins)")
    async def remove(self, facility_id: Id, db_session: Session, current_user: CurrentUser) -> None:
        await catalog.delete_facility(db_session, current_user, facility_id)

    @get("/{facility_id:int}/instruments", summary="The facility's instruments")
    async def list_instruments(
        self, facility_id: Id, db_session: Session, current_user: CurrentUser
    ) -> list[InstrumentPublic]:
        return await catalog.list_instruments(db_session, facility_id)

    @post("/{facility_id:int}/instruments", summary="Add an instrument (the facility's coordinators)")
    async def create_instrument(
        self, facility_id: Id, data: JSONBody[InstrumentCreate], db_session: Session, current_user: CurrentUser
    ) -> InstrumentPublic:
        return await catalog.create_instrument(db_session, current_user, facility_id, data)

    @get("/{facility_id:int}/windows", summary="Windows of the whole facility")
    async def list_windows(self, facility_id: Id, db_session: Session, current_user: CurrentUser) -> list[WindowPublic]:
        return await catalog.list_windows(db_session, facility_id=facility_id)

    @post("/{facility_id:int}/windows", summary="Block the whole facility for a time (its coordinators)")
    async def create_window(
        self, facility_id: Id, data: JSONBody[WindowCreate], db_session: Session, current_user: CurrentUser
    ) -> WindowPublic:
        return await catalog.create_window(db_session, current_user, data, facility_id=facility_id)


class InstrumentController(Controller):
    path = "/instruments"
    tags = ("catalogue",)
    security = BEARER

    @get("/{instrument_id:int}", summary="One instrument")
    async def get_instrument(
        self, instrument_id: Id, db_session: Session, current_user: CurrentUser
    ) -> InstrumentPublic:
        return await catalog.get_instrument(db_session, instrument_id)

    @patch("/{instrument_id:int}", summary="Change an instrument (its facility's coordinators)")
    async def update(
        self, instrument_id: Id, data: JSONBody[InstrumentUpdate], db_session: Session, current_user: CurrentUser
    ) -> InstrumentPublic:
        return await catalog.update_instrument(db_session, current_user, instrument_id, data)

    @delete("/{instrument_id:int}", summary="Delete an instrument nothing refers to")
    async def remove(self, instrument_id: Id, db_session: Session, current_user: CurrentUser) -> None:
        await catalog.delete_instrument(db_session, current_user, instrument_id)

    @get("/{instrument_id:int}/windows", summary="Windows of this instrument alone")
    async def list_windows(
        self, instrument_id: Id, db_session: Session, current_user: CurrentUser
    ) -> list[WindowPublic]:
        return await catalog.list_windows(db_session, instrument_id=instrument_id)

    @post("/{instrument_id:int}/windows", summary="Block the instrument for a time")
    async def create_window(
        self, instrument_id: Id, data: JSONBody[WindowCreate], db_session: Session, current_user: CurrentUser
    ) -> WindowPublic:
        return await catalog.create_window(db_session, current_user, data, instrument_id=instrument_id)


class WindowController(Controller):
    path = "/windows"
    tags = ("catalogue",)
    security = BEARER

    @get("/{window_id:int}", summary="One window")
    async def get_window(self, window_id: Id, db_session: Session, current_user: CurrentUser) -> WindowPublic:
        return await catalog.get_window(db_session, window_id)

    @patch("/{window_id:int}", summary="Change a window")
    async def update(
        self, window_id: Id, data: JSONBody[WindowUpdate], db_session: Session, current_user: CurrentUser
    ) -> WindowPublic:
        return await catalog.update_window(db_session, current_user, window_id, data)

    @delete("/{window_id:int}", summary="Delete a window")
    async def remove(self, window_id: Id, db_session: Session, current_user: CurrentUser) -> None:
        await catalog.delete_window(db_session, current_user, window_id)


class EquipmentController(Controller):
    path = "/equipment"
    tags = ("catalogue",)
    security = BEARER

    @get(summary="List shared sample equipment")
    async def list_equipment(self, db_session: Session, current_user: CurrentUser) -> list[EquipmentPublic]:
        return await catalog.list_equipment(db_session)

    @post(summary="Add equipment (coordinators)")
    async def create(
        self, data: JSONBody[EquipmentCreate], db_session: Session, current_user: CurrentUser
    ) -> EquipmentPublic:
        return await catalog.create_equipment(db_session, current_user, data)

    @get("/{equipment_id:int}", summary="One equipment item")
    async def get_equipment(self, equipment_id: Id, db_session: Session, current_user: CurrentUser) -> EquipmentPublic:
        return await catalog.get_equipment(db_session, equipment_id)

    @patch("/{equipment_id:int}", summary="Change equipment (coordinators)")
    async def update(
        self, equipment_id: Id, data: JSONBody[EquipmentUpdate], db_session: Session, current_user: CurrentUser
    ) -> EquipmentPublic:
        return await catalog.update_equipment(db_session, current_user, equipment_id, data)

    @delete("/{equipment_id:int}", summary="Delete equipment no round uses (coordinators)")
    async def remove(self, equipment_id: Id, db_session: Session, current_user: CurrentUser) -> None:
        await catalog.delete_equipment(db_session, current_user, equipment_id)
