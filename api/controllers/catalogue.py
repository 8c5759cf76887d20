"""Facilities, instruments, windows and equipment: read by everyone signed in, kept by coordinators."""

from __future__ import annotations

from api.controllers import SignedIn
from api.controllers.items import Kind, child_routes, collection_routes, item_routes
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

FACILITIES = Kind(
    FacilityService,
    FacilityPublic,
    FacilityCreate,
    FacilityUpdate,
    Operation.CHANGE_FACILITY,
    creates=Operation.CREATE_FACILITY,
)
"""Admins create facilities; their coordinators change them."""
INSTRUMENTS = Kind(
    InstrumentService, InstrumentPublic, InstrumentCreate, InstrumentUpdate, Operation.CHANGE_FACILITY_ITEM
)
WINDOWS = Kind(WindowService, WindowPublic, WindowCreate, WindowUpdate, Operation.CHANGE_FACILITY_ITEM)
EQUIPMENT = Kind(EquipmentService, EquipmentPublic, EquipmentCreate, EquipmentUpdate, Operation.CHANGE_FACILITY_ITEM)


class FacilityController(SignedIn):
    path = "/facilities"
    tags = ("catalogue",)

    list_all, create = collection_routes(FACILITIES, ("List facilities", "Create a facility (admins)"))
    read, update, remove = item_routes(
        FACILITIES,
        ("One facility", "Change a facility (its coordinators)", "Delete a facility nothing refers to (admins)"),
    )
    list_instruments, create_instrument = child_routes(
        "instruments", INSTRUMENTS, ("The facility's instruments", "Add an instrument (the facility's coordinators)")
    )
    list_windows, create_window = child_routes(
        "windows",
        WINDOWS.kept_by(FacilityWindowService),
        ("Windows of the whole facility", "Block the whole facility for a time (its coordinators)"),
    )


class InstrumentController(SignedIn):
    path = "/instruments"
    tags = ("catalogue",)

    read, update, remove = item_routes(
        INSTRUMENTS,
        (
            "One instrument",
            "Change an instrument (its facility's coordinators)",
            "Delete an instrument nothing refers to",
        ),
    )
    list_windows, create_window = child_routes(
        "windows",
        WINDOWS.kept_by(InstrumentWindowService),
        ("Windows of this instrument alone", "Block the instrument for a time"),
    )


class WindowController(SignedIn):
    path = "/windows"
    tags = ("catalogue",)

    read, update, remove = item_routes(WINDOWS, ("One window", "Change a window", "Delete a window"))


class EquipmentController(SignedIn):
    path = "/equipment"
    tags = ("catalogue",)

    list_all, create = collection_routes(
        EQUIPMENT, ("List sample equipment", "Add equipment kept by a facility (its coordinators)")
    )
    read, update, remove = item_routes(
        EQUIPMENT,
        (
            "One equipment item",
            "Change equipment (its facility's coordinators)",
            "Delete equipment no round uses (its facility's coordinators)",
        ),
    )
