"""The quota rules of the round file, once: what a quota may name, which instruments it covers,
and how much of a proposal's time counts for its category. Fair-return targets name the same
things and count time the same way.

`checks` (round files), the rounds service (quotas written through the API) and `build`
(the solver's quota rows) all use these. `validate` works them out its own way on purpose: the
referee must not share a mistake with the model it judges.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from scheduler.roundfile.contract import Category, FairReturnTarget, Proposal, Quota, QuotaCategory, QuotaScope

WHOLE_CATEGORY = "*"
"""Key of `attributed_fractions` for categories bounded as a whole (all but the each_* ones)."""

Attribution = Literal["pi", "team"]


@dataclass(frozen=True)
class DanglingReference:
    """A name in a quota that the round does not define."""

    loc: tuple[str | int, ...]
    """Where in the quota, e.g. ("scope", "facilities", 0)."""
    message: str
    unknown_id: str | None = None

    def path(self, prefix: str = "$") -> str:
        return prefix + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in self.loc)


def dangling_references(
    quota: Quota | FairReturnTarget,
    facility_ids: Collection[str],
    instrument_ids: Collection[str],
    country_groups: Collection[str],
) -> Iterator[DanglingReference]:
    """The facilities, instruments and country group a quota (or fair-return target) names that the round has not."""
    for f, facility_id in enumerate(quota.scope.facilities or []):
        if facility_id not in facility_ids:
            yield DanglingReference(("scope", "facilities", f), f"unknown facility {facility_id!r}", facility_id)
    for i, instrument_id in enumerate(quota.scope.instruments or []):
        if instrument_id not in instrument_ids:
            yield DanglingReference(("scope", "instruments", i), f"unknown instrument {instrument_id!r}", instrument_id)
    group = quota.category.country_group
    if group is not None and group not in country_groups:
        yield DanglingReference(("category", "country_group"), f"unknown country group {group!r}")


def in_scope(scope: QuotaScope, facility_id: str, instrument_id: str) -> bool:
    """Whether time on an instrument counts for a quota.

    The scope is the union of the listed facilities' instruments and the listed
    instruments; with neither listed (absent or empty) it is every instrument.
    """
    facilities, instruments = scope.facilities or [], scope.instruments or []
    if not facilities and not instruments:
        return True
    return facility_id in facilities or instrument_id in instruments


def country_fractions(proposal: Proposal, attribution: Attribution) -> dict[str, Fraction]:
    """How a proposal's shifts divide over countries: all to the PI's ("pi"), or one equal part per person.

    A person whose country is not confirmed keeps their part, attributed to no country.
    """
    people = [proposal.pi] if attribution == "pi" else [proposal.pi, *proposal.team]
    fractions: dict[str, Fraction] = defaultdict(Fraction)
    for person in people:
        if person.country_confirmed:
            fractions[person.country] += Fraction(1, len(people))
    return dict(fractions)


def attributed_fractions(
    proposal: Proposal,
    category: Category,
    facility_country: str,
    country_groups: Mapping[str, list[str]],
    attribution: Attribution,
) -> dict[str, Fraction]:
    """The fraction of a proposal's shifts at a facility in `facility_country` that counts for a quota.

    Keyed by what the bound applies to: for each_country and each_foreign_country
    every country attributed a positive fraction (foreign-ness is decided per
    facility, so the same proposal can count at one facility and not at another);
    for every other category the single key `WHOLE_CATEGORY`, present even at 0.
    """
    if category.proposal_type is not None:
        return {WHOLE_CATEGORY: Fraction(int(proposal.type == category.proposal_type))}
    by_country = country_fractions(proposal, attribution)
    each = category if isinstance(category, QuotaCategory) else None
    if each is not None and each.each_country:
        return by_country
    if each is not None and each.each_foreign_country:
        return {country: share for country, share in by_country.items() if country != facility_country}
    counts = _country_test(category, facility_country, country_groups)
    return {WHOLE_CATEGORY: sum((share for country, share in by_country.items() if counts(country)), Fraction(0))}


def _country_test(
    category: Category, facility_country: str, country_groups: Mapping[str, list[str]]
) -> Callable[[str], bool]:
    """Whether a person's country puts their part of the shifts in a category bounded as a whole."""
    if category.foreign:
        return lambda country: country != facility_country
    if category.domestic:
        return lambda country: country == facility_country
    if category.country is not None:
        return lambda country: country == category.country
    if category.country_group is not None:
        members = set(country_groups.get(category.country_group, []))
        return lambda country: country in members
    raise ValueError(f"category {category} is not bounded as a whole")
