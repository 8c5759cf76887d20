"""Colours and words for the categories a coordinator balances quotas over.

In-house and industrial proposals are coloured by their type, the others as
domestic (the PI's country is the country of the facility where the time is) or
by the PI's country group, else as other foreign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from api.i18n import N_
from scheduler.roundfile import contract as c

DOMESTIC, FOREIGN, INDUSTRIAL, IN_HOUSE = "domestic", "foreign", "industrial", "in_house"
GROUP_PREFIX = "group:"
DOMESTIC_COLOUR = "#2563eb"
FOREIGN_COLOUR = "#0e7490"
INDUSTRIAL_COLOUR = "#b45309"
IN_HOUSE_COLOUR = "#64748b"
GROUP_COLOURS = ("#0f766e", "#7c3aed", "#db2777", "#4d7c0f", "#c2410c", "#4f46e5")
"""One per country group in the round's order, repeating past six. Every colour keeps white text at WCAG AA (4.5:1)."""


class Category(BaseModel):
    key: str
    label: str
    """In English, marked for the catalogues: a page shows it through gettext."""
    colour: str


WITHDRAWN_CATEGORY = Category(key="withdrawn", label=N_("Withdrawn since"), colour="#78716c")
"""A version made before its proposal was withdrawn still shows the block."""


def categories(country_groups: Mapping[str, Sequence[str]]) -> list[Category]:
    """The legend, in the order a block's category is decided after its type."""
    return [
        Category(key=DOMESTIC, label=N_("Domestic"), colour=DOMESTIC_COLOUR),
        *(
            Category(key=GROUP_PREFIX + name, label=name, colour=GROUP_COLOURS[index % len(GROUP_COLOURS)])
            for index, name in enumerate(country_groups)
        ),
        Category(key=FOREIGN, label=N_("Other foreign"), colour=FOREIGN_COLOUR),
        Category(key=INDUSTRIAL, label=N_("Industrial"), colour=INDUSTRIAL_COLOUR),
        Category(key=IN_HOUSE, label=N_("In-house"), colour=IN_HOUSE_COLOUR),
    ]


def category_of(proposal: c.Proposal, facility_country: str, country_groups: Mapping[str, Sequence[str]]) -> str:
    if proposal.type == "industrial":
        return INDUSTRIAL
    if proposal.type == "in_house":
        return IN_HOUSE
    if proposal.pi.country == facility_country:
        return DOMESTIC
    group = next((name for name, countries in country_groups.items() if proposal.pi.country in countries), None)
    return FOREIGN if group is None else GROUP_PREFIX + group


def quota_category_words(category: c.QuotaCategory) -> str:
    if category.foreign:
        return "Foreign"
    if category.domestic:
        return "Domestic"
    if category.country is not None:
        return f"Country {category.country}"
    if category.country_group is not None:
        return f"Group {category.country_group}"
    if category.proposal_type is not None:
        return category.proposal_type.replace("_", " ").capitalize() + " proposals"
    if category.each_country:
        return "Each country"
    return "Each foreign country"


def scope_words(scope: c.QuotaScope) -> str:
    parts = [*(scope.facilities or []), *(scope.instruments or [])]
    return ", ".join(parts) if parts else "all instruments"
