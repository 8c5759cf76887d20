"""Facilities, instruments, windows and equipment: read by everyone signed in, kept by coordinators.

Each controller gets its domain service as a dependency (`facilities`, `instruments`, …), opened
on the request's transaction.
"""

from __future__ import annotations

from advanced_alchemy.service import OffsetPagination
from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from api.controllers import BEARER
from api.params import CurrentUser, Id, Page, Session
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
)
from scheduler.catalogue.service import EquipmentService, FacilityService, InstrumentService, WindowService


async def provide_facilities(db_session: Session) -> FacilityService:
    return FacilityService(session=db_session)


async def provide_instruments(db_session: Session) -> InstrumentService:
    return InstrumentService(session=db_session)


async def provide_windows(db_session: Session) -> WindowService:
    return WindowService(session=db_session)


async def provide_equipment(db_session: Session) -> EquipmentService:
    return EquipmentService(session=db_session)


Facilities = NamedDependency[FacilityService]
Instruments = NamedDependency[InstrumentService]
Windows = NamedDependency[WindowService]
EquipmentItems = NamedDependency[EquipmentService]
SERVICES = {
    "facilities": Provide(provide_facilities),
    "instruments": Provide(provide_instruments),
    "windows": Provide(provide_windows),
    "equipment": Provide(provide_equipment),
}


class FacilityController(Controller):
    path = "/facilities"
    tags = ("catalogue",)
    security = BEARER
    dependencies = SERVICES

    @get(summary="List facilities")
    async def list_facilities(self, page: Page, facilities: Facilities) -> OffsetPagination[FacilityPublic]:
        return await facilities.list_page(page)

    @post(summary="Create a facility (admins)")
    async def create(
        self, data: JSONBody[FacilityCreate], facilities: Facilities, current_user: CurrentUser
    ) -> FacilityPublic:
        return await facilities.create_facility(current_user, data)

    @get("/{facility_id:int}", summary="One facility")
    async def get_facility(self, facility_id: Id, facilities: Facilities) -> FacilityPublic:
        return await facilities.get_facility(facility_id)

    @patch("/{facility_id:int}", summary="Change a facility (its coordinators)")
    async def update(
        self, facility_id: Id, data: JSONBody[FacilityUpdate], facilities: Facilities, current_user: CurrentUser
    ) -> FacilityPublic:
        return await facilities.update_facility(current_user, facility_id, data)

    @delete("/{facility_id:int}", summary="Delete a facility nothing refers to (admins)")
    async def remove(self, facility_id: Id, facilities: Facilities, current_user: CurrentUser) -> None:
        await facilities.delete_facility(current_user, facility_id)

    @get("/{facility_id:int}/instruments", summary="The facility's instruments")
    async def list_instruments(
        self, facility_id: Id, page: Page, instruments: Instruments
    ) -> OffsetPagination[InstrumentPublic]:
        return await instruments.list_page(page, facility_id)

    @post("/{facility_id:int}/instruments", summary="Add an instrument (the facility's coordinators)")
    async def create_instrument(
        self, facility_id: Id, data: JSONBody[InstrumentCreate], instruments: Instruments, current_user: CurrentUser
    ) -> InstrumentPublic:
        return await instruments.create_instrument(current_user, facility_id, data)

    @get("/{facility_id:int}/windows", summary="Windows of the whole facility")
    async def list_windows(self, facility_id: Id, page: Page, windows: Windows) -> OffsetPagination[WindowPublic]:
        return await windows.list_page(page, facility_id=facility_id)

    @post("/{facility_id:int}/windows", summary="Block the whole facility for a time (its coordinators)")
    async def create_window(
        self, facility_id: Id, data: JSONBody[WindowCreate], windows: Windows, current_user: CurrentUser
    ) -> WindowPublic:
        return await windows.create_window(current_user, data, facility_id=facility_id)


class InstrumentController(Controller):
    path = "/instruments"
    tags = ("catalogue",)
    security = BEARER
    dependencies = SERVICES

    @get("/{instrument_id:int}", summary="One instrument")
    async def get_instrument(self, instrument_id: Id, instruments: Instruments) -> InstrumentPublic:
        return await instruments.get_instrument(instrument_id)

    @patch("/{instrument_id:int}", summary="Change an instrument (its facility's coordinators)")
    async def update(
        self, instrument_id: Id, data: JSONBody[InstrumentUpdate], instruments: Instruments, current_user: CurrentUser
    ) -> InstrumentPublic:
        return await instruments.update_instrument(current_user, instrument_id, data)

    @delete("/{instrument_id:int}", summary="Delete an instrument nothing refers to")
    async def remove(self, instrument_id: Id, instruments: Instruments, current_user: CurrentUser) -> None:
        await instruments.delete_instrument(current_user, instrument_id)

    @get("/{instrument_id:int}/windows", summary="Windows of this instrument alone")
    async def list_windows(self, instrument_id: Id, page: Page, windows: Windows) -> OffsetPagination[WindowPublic]:
        return await windows.list_page(page, instrument_id=instrument_id)

    @post("/{instrument_id:int}/windows", summary="Block the instrument for a time")
    async def create_window(
        self, instrument_id: Id, data: JSONBody[WindowCreate], windows: Windows, current_user: CurrentUser
    ) -> WindowPublic:
        return await windows.create_window(current_user, data, instrument_id=instrument_id)


class WindowController(Controller):
    path = "/windows"
    tags = ("catalogue",)
    security = BEARER
    dependencies = SERVICES

    @get("/{window_id:int}", summary="One window")
    async def get_window(self, window_id: Id, windows: Windows) -> WindowPublic:
        return await windows.get_window(window_id)

    @patch("/{window_id:int}", summary="Change a window")
    async def update(
        self, window_id: Id, data: JSONBody[WindowUpdate], windows: Windows, current_user: CurrentUser
    ) -> WindowPublic:
        return await windows.update_window(current_user, window_id, data)

    @delete("/{window_id:int}", summary="Delete a window")
    async def remove(self, window_id: Id, windows: Windows, current_user: CurrentUser) -> None:
        await windows.delete_window(current_user, window_id)


class EquipmentController(Controller):
    path = "/equipment"
    tags = ("catalogue",)
    security = BEARER
    dependencies = SERVICES

    @get(summary="List shared sample equipment")
    async def list_equipment(self, page: Page, equipment: EquipmentItems) -> OffsetPagination[EquipmentPublic]:
        return await equipment.list_page(page)

    @post(summary="Add equipment (coordinators)")
    async def create(
        self, data: JSONBody[EquipmentCreate], equipment: EquipmentItems, current_user: CurrentUser
    ) -> EquipmentPublic:
        return await equipment.create_equipment(current_user, data)

    @get("/{equipment_id:int}", summary="One equipment item")
    async def get_equipment(self, equipment_id: Id, equipment: EquipmentItems) -> EquipmentPublic:
        return await equipment.get_equipment(equipment_id)

    @patch("/{equipment_id:int}", summary="Change equipment (coordinators)")
    async def update(
        self, equipment_id: Id, data: JSONBody[EquipmentUpdate], equipment: EquipmentItems, current_user: CurrentUser
    ) -> EquipmentPublic:
        return await equipment.update_equipment(current_user, equipment_id, data)

    @delete("/{equipment_id:int}", summary="Delete equipment no round uses (coordinators)")
    async def remove(self, equipment_id: Id, equipment: EquipmentItems, current_user: CurrentUser) -> None:
        await equipment.delete_equipment(current_user, equipment_id)
