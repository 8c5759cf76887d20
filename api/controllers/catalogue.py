"""Facilities, instruments, windows and equipment: read by everyone signed in, kept by coordinators."""

from __future__ import annotations

from litestar import Controller

from api.controllers import BEARER
from api.controllers.items import child_routes, collection_routes, item_routes
from scheduler.access import Operation
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
from scheduler.catalogue.service import (
    EquipmentService,
    FacilityService,
    FacilityWindowService,
    InstrumentService,
    InstrumentWindowService,
    WindowService,
)


class FacilityController(Controller):
    path = "/facilities"
    tags = ("catalogue",)
    security = BEARER

    list_all, create = collection_routes(
        FacilityService,
        FacilityPublic,
        FacilityCreate,
        ("List facilities", "Create a facility (admins)"),
        creates=Operation.CREATE_FACILITY,
    )
    read, update, remove = item_routes(
        FacilityService,
        FacilityPublic,
        FacilityUpdate,
        ("One facility", "Change a facility (its coordinators)", "Delete a facility nothing refers to (admins)"),
        changes=Operation.CHANGE_FACILITY,
    )
    list_instruments, create_instrument = child_routes(
        "instruments",
        InstrumentService,
        InstrumentPublic,
        InstrumentCreate,
        ("The facility's instruments", "Add an instrument (the facility's coordinators)"),
        creates=Operation.CHANGE_FACILITY_ITEM,
    )
    list_windows, create_window = child_routes(
        "windows",
        FacilityWindowService,
        WindowPublic,
        WindowCreate,
        ("Windows of the whole facility", "Block the whole facility for a time (its coordinators)"),
        creates=Operation.CHANGE_FACILITY_ITEM,
    )


class InstrumentController(Controller):
    path = "/instruments"
    tags = ("catalogue",)
    security = BEARER

    read, update, remove = item_routes(
        InstrumentService,
        InstrumentPublic,
        InstrumentUpdate,
        (
            "One instrument",
            "Change an instrument (its facility's coordinators)",
            "Delete an instrument nothing refers to",
        ),
        changes=Operation.CHANGE_FACILITY_ITEM,
    )
    list_windows, create_window = child_routes(
        "windows",
        InstrumentWindowService,
        WindowPublic,
        WindowCreate,
        ("Windows of this instrument alone", "Block the instrument for a time"),
        creates=Operation.CHANGE_FACILITY_ITEM,
    )


class WindowController(Controller):
    path = "/windows"
    tags = ("catalogue",)
    security = BEARER

    read, update, remove = item_routes(
        WindowService,
        WindowPublic,
        WindowUpdate,
        ("One window", "Change a window", "Delete a window"),
        changes=Operation.CHANGE_FACILITY_ITEM,
    )


class EquipmentController(Controller):
    path = "/equipment"
    tags = ("catalogue",)
    security = BEARER

    list_all, create = collection_routes(
        EquipmentService,
        EquipmentPublic,
        EquipmentCreate,
        ("List sample equipment", "Add equipment kept by a facility (its coordinators)"),
        creates=Operation.CHANGE_FACILITY_ITEM,
    )
    read, update, remove = item_routes(
        EquipmentService,
        EquipmentPublic,
        EquipmentUpdate,
        (
            "One equipment item",
            "Change equipment (its facility's coordinators)",
            "Delete equipment no round uses (its facility's coordinators)",
        ),
        changes=Operation.CHANGE_FACILITY_ITEM,
    )
