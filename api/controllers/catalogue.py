"""Facilities, instruments, windows and equipment: read by everyone signed in, kept by coordinators."""

from __future__ import annotations

from advanced_alchemy.service import OffsetPagination
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.controllers import BEARER
from api.controllers.items import collection_routes, item_routes, services
from api.params import CurrentUser, Id, Page
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

Instruments = NamedDependency[InstrumentService]
Windows = NamedDependency[WindowService]


class FacilityController(Controller):
    path = "/facilities"
    tags = ("catalogue",)
    security = BEARER
    dependencies = services(service=FacilityService, instruments=InstrumentService, windows=WindowService)

    list_all, create = collection_routes(
        FacilityService, FacilityPublic, FacilityCreate, ("List facilities", "Create a facility (admins)")
    )
    read, update, remove = item_routes(
        FacilityService,
        FacilityPublic,
        FacilityUpdate,
        ("One facility", "Change a facility (its coordinators)", "Delete a facility nothing refers to (admins)"),
    )

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
    dependencies = services(service=InstrumentService, windows=WindowService)

    read, update, remove = item_routes(
        InstrumentService,
        InstrumentPublic,
        InstrumentUpdate,
        (
            "One instrument",
            "Change an instrument (its facility's coordinators)",
            "Delete an instrument nothing refers to",
        ),
    )

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
    dependencies = services(service=WindowService)

    read, update, remove = item_routes(
        WindowService, WindowPublic, WindowUpdate, ("One window", "Change a window", "Delete a window")
    )


class EquipmentController(Controller):
    path = "/equipment"
    tags = ("catalogue",)
    security = BEARER
    dependencies = services(service=EquipmentService)

    list_all, create = collection_routes(
        EquipmentService,
        EquipmentPublic,
        EquipmentCreate,
        ("List shared sample equipment", "Add equipment (coordinators)"),
    )
    read, update, remove = item_routes(
        EquipmentService,
        EquipmentPublic,
        EquipmentUpdate,
        ("One equipment item", "Change equipment (coordinators)", "Delete equipment no round uses (coordinators)"),
    )
