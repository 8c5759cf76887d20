"""Why a request got no time, in terms a coordinator can act on; and which hard rules make a round infeasible.

Each unallocated request is asked, in order:
1. Could it ever fit? Its dates against the maintenance windows and the team's unavailability (`window`).
2. Is there a gap for it in the schedule as it is? If not, the allocations holding the time it could use
   are its `competitors`, lowest priority first. When all of them rank higher it lost to better proposals;
   when a lower-ranked block's removal alone would make room, the explanation says why that block stays
   (pinned, linked, needed for a quota, worth more, kept for stability, or the search's limit): `held`.
3. Where there is a gap, which rule stops it there: shared equipment, the reserve, an after link, a quota
   (named, with its share against the bound, the headroom in shifts and what the request would add).
4. All-or-nothing partners are explained together. Steps 1-3 ignore those links, so a member that fits
   alone points at the member that does not and repeats that member's own cause: two partners never
   explain each other. When every member fits alone they are tried together.
A request that fits with every rule holding was left out because the search stopped: that is never
called `capacity` (there is room); see `TIMED_OUT`.

The work is interval arithmetic per instrument and quota tallies changed per move, so explaining a
facility-size round takes a fraction of a second (BENCHMARKS.md).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from solver.greedy import all_or_nothing_components
from solver.model import ModelData, build, usable_runs
from solver.problem import Placement, Problem, Quota, Settings, Span
from solver.solution import HeldBlock, Reason, StayReason, Unallocated, quota_deviation

DIAGNOSIS_SECONDS = 30.0

TIMED_OUT: Reason = "window"
"""The reason given to a request that fits as it is (or after an improving swap) but was not placed.

The file format's reasons have no value for "the search stopped"; `capacity` would claim there is no
room, and `below_cutoff`/`not_feasible` would tell the proposer the scoring rules refused it (the
proposer's status page shows those as "not scheduled"). `window` (the solve's time window ran out)
keeps the request waitlisted, and the detail says plainly where it fits and that it was left out.
"""

_STAY_REASON: dict[StayReason, Reason] = {
    "pinned": "capacity",
    "link": "link",
    "quota": "quota",
    "soft_quota": "quota",
    "stability": "capacity",
    "objective": "capacity",
    "equipment": "equipment",
    "reserve": "capacity",
    "search_limit": TIMED_OUT,
}

ROUNDING = 1e-6
"""Shifts: far above the floating-point error of a quota's shares over a round's shifts (about 1e-11)."""

Change = tuple[Placement, int]
"""A placement added (+1) or removed (-1)."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    reason: Reason
    detail: str
    competitors: tuple[int, ...] = ()
    held: tuple[HeldBlock, ...] = ()
    fits: Placement | None = None
    """Where it fits with every rule holding, when only its all-or-nothing partners could stop it."""
    search_stopped: bool = False
    """Nothing but the search's limit stopped it (it fits, or an improving swap makes room)."""


@dataclass(frozen=True, slots=True)
class _QuotaEffect:
    """What a set of changes does to the quotas: the hard ones it breaks, the soft penalty it adds."""

    broken: tuple[str, ...]
    soft: tuple[str, ...]
    penalty: float


class _Schedule:
    """A schedule as intervals per instrument, equipment use per shift and quota tallies, changed in place."""

    def __init__(self, problem: Problem, placements: Sequence[Placement]) -> None:
        self.problem = problem
        self.placed: dict[int, Placement] = {}
        self.on: dict[int, list[Placement]] = defaultdict(list)
        """Each instrument's blocks in order (they do not overlap, so ends are in order too)."""
        self.starts: dict[int, list[int]] = defaultdict(list)
        self.ends: dict[int, list[int]] = defaultdict(list)
        self.used = [0] * len(problem.instruments)
        self.equipment = [np.zeros(problem.horizon, dtype=np.int64) for _ in problem.equipment]
        self.totals = [0] * len(problem.quotas)
        self.attributed = [Fraction(0)] * len(problem.quotas)
        self.deviations: dict[int, Fraction] = {}
        """Each quota's deviation in the schedule as it is, worked out when first asked for."""
        self.quotas_on: dict[int, list[int]] = defaultdict(list)
        for k, quota in enumerate(problem.quotas):
            for i in quota.instruments:
                self.quotas_on[i].append(k)
        self.pinned = {pin.request for pin in problem.pinned}
        self.previous = set(problem.previous)
        self.components = all_or_nothing_components(problem)
        self.after_links: dict[int, list[int]] = defaultdict(list)
        for index, link in enumerate(problem.after):
            self.after_links[link.first].append(index)
            self.after_links[link.then].append(index)
        for placement in placements:
            self.add(placement)

    def add(self, placement: Placement) -> None:
        self.placed[placement.request] = placement
        blocks = self.on[placement.instrument]
        k = bisect.bisect_right(self.ends[placement.instrument], placement.end)
        blocks.insert(k, placement)
        self.starts[placement.instrument].insert(k, placement.start)
        self.ends[placement.instrument].insert(k, placement.end)
        self._count(placement, 1)

    def remove(self, placement: Placement) -> None:
        del self.placed[placement.request]
        k = self.on[placement.instrument].index(placement)
        del self.on[placement.instrument][k], self.starts[placement.instrument][k], self.ends[placement.instrument][k]
        self._count(placement, -1)

    def _count(self, placement: Placement, sign: int) -> None:
        self.used[placement.instrument] += sign * placement.shifts
        for e in self.problem.requests[placement.request].equipment:
            self.equipment[e][placement.start : placement.end] += sign
        for k in self.quotas_on[placement.instrument]:
            self.deviations.pop(k, None)
            self.totals[k] += sign * placement.shifts
            weight = self.problem.quotas[k].weights.get((placement.request, placement.instrument))
            if weight:
                self.attributed[k] += sign * weight * placement.shifts

    # Space

    def _around(self, i: int, low: int, high: int) -> list[Placement]:
        """Placements on `i` whose block padded by the changeover overlaps `[low, high)`."""
        changeover = self.problem.instruments[i].changeover
        first = bisect.bisect_right(self.ends[i], low - changeover)
        return self.on[i][first : bisect.bisect_left(self.starts[i], high + changeover, first)]

    def holding(self, i: int, runs: Sequence[Span]) -> list[Placement]:
        """Blocks on `i` whose time padded by the changeover overlaps one of `runs` (in order, apart): one
        look-up in the instrument's index for the whole stretch, then one walk along blocks and runs."""
        if not runs:
            return []
        changeover = self.problem.instruments[i].changeover
        found, k = [], 0
        for p in self._around(i, runs[0][0], runs[-1][1]):
            while runs[k][1] <= p.start - changeover:
                k += 1  # a run that ends before this block (and so before every later block)
            if runs[k][0] < p.end + changeover:
                found.append(p)
        return found

    def free(self, r: int, i: int, runs: Iterable[Span], removed: Placement | None = None) -> list[Span]:
        """The parts of `runs` no block (but `removed`) holds, at least `min_shifts` long."""
        changeover = self.problem.instruments[i].changeover
        length = self.problem.requests[r].min_shifts
        found = []
        for a, b in runs:
            cursor = a
            for p in self._around(i, a, b):
                if p is removed:
                    continue
                if p.start - changeover - cursor >= length:
                    found.append((cursor, p.start - changeover))
                cursor = max(cursor, p.end + changeover)
            if b - cursor >= length:
                found.append((cursor, b))
        return found

    # Rules at a place

    def equipment_free(self, r: int, start: int, shifts: int, removed: Placement | None = None) -> bool:
        problem = self.problem
        for e in problem.requests[r].equipment:
            use = self.equipment[e][start : start + shifts].copy()
            if removed is not None and e in problem.requests[removed.request].equipment:
                low, high = max(start, removed.start), min(start + shifts, removed.end)
                if low < high:
                    use[low - start : high - start] -= 1
            if bool((use >= problem.equipment[e].units).any()):
                return False
        return True

    def reserve_allows(self, i: int, shifts: int, removed: Placement | None = None) -> bool:
        capacity = self.problem.instruments[i].capacity
        freed = removed.shifts if removed is not None and removed.instrument == i else 0
        return capacity is None or self.used[i] - freed + shifts <= capacity

    def after_holds(self, r: int, start: int, shifts: int, removed: Placement | None = None) -> bool:
        for index in self.after_links[r]:
            link = self.problem.after[index]
            partner = self.placed.get(link.then if link.first == r else link.first)
            if partner is None or partner is removed:
                continue
            gap = partner.start - (start + shifts) if link.first == r else start - partner.end
            if gap < link.min_gap or (link.max_gap is not None and gap > link.max_gap):
                return False
        return True

    def after_partners(self, r: int) -> list[int]:
        links = (self.problem.after[index] for index in self.after_links[r])
        return [p for link in links for p in (link.first, link.then) if p != r and p in self.placed]

    def quota_effect(self, changes: Sequence[Change]) -> _QuotaEffect:
        """Hard quotas the changes break (worse than before) and the soft penalty they add, in words."""
        problem = self.problem
        affected = sorted({k for placement, _ in changes for k in self.quotas_on[placement.instrument]})
        broken, soft = [], []
        penalty = 0.0
        for k in affected:
            quota = problem.quotas[k]
            total, attributed = self.totals[k], self.attributed[k]
            counted = False
            for placement, sign in changes:
                if placement.instrument in quota.instruments:
                    total += sign * placement.shifts
                    if weight := quota.weights.get((placement.request, placement.instrument)):
                        attributed += sign * weight * placement.shifts
                        counted = True
            if not counted and _only_further_from_bounds(quota, total - self.totals[k]):
                continue
            if _well_within(quota, total, float(attributed)):
                continue
            was = self.deviation(k)
            now = quota_deviation(quota, total, attributed)
            if now <= was:
                continue
            words = self.quota_words(k, changes, total, attributed)
            if quota.soft:
                penalty += float(now - was) * quota.penalty
                soft.append(f"{words}, a penalty of {float(now - was) * quota.penalty:.2f}")
            else:
                broken.append(words)
        return _QuotaEffect(tuple(broken), tuple(soft), penalty)

    def deviation(self, k: int) -> Fraction:
        if k not in self.deviations:
            self.deviations[k] = quota_deviation(self.problem.quotas[k], self.totals[k], self.attributed[k])
        return self.deviations[k]

    def quota_words(self, k: int, changes: Sequence[Change], total: int, attributed: Fraction) -> str:
        """The quota's share now against its bound, the headroom for the request added, and the share after."""
        quota = self.problem.quotas[k]
        before_total, before = self.totals[k], self.attributed[k]
        share = f"{float(before / before_total):.1%} of {before_total} shifts" if before_total else "no shifts yet"
        after = f"{float(attributed / total):.1%}" if total else "nothing"
        side, bound = (
            ("maximum", quota.max_share) if _over(quota.max_share, total, attributed) else ("minimum", quota.min_share)
        )
        added = [p for p, sign in changes if sign > 0 and p.instrument in quota.instruments]
        removed = [p for p, sign in changes if sign < 0 and p.instrument in quota.instruments]
        moved = f"adding {sum(p.shifts for p in added)} shifts" if added else "adding nothing"
        if removed:
            moved += f" and removing {sum(p.shifts for p in removed)}"
        counted = sum(
            (quota.weights.get((p.request, p.instrument), Fraction(0)) * p.shifts * sign for p, sign in changes),
            Fraction(0),
        )
        headroom = ""
        if added:
            weight = quota.weights.get((added[0].request, added[0].instrument), Fraction(0))
            room = _headroom(bound, side, before_total, before, weight)
            headroom = f"; headroom {room:.1f} shifts for a request counted like this one" if room is not None else ""
        return (
            f"{'soft' if quota.soft else 'hard'} quota {quota.name}{f' ({quota.counts})' if quota.counts else ''}: "
            f"{share} against its {side} {float(bound or 0) * 100:g}%{headroom}; "
            f"{moved} ({float(counted):+.1f} counted to it) takes it to {after}"
        )


def _only_further_from_bounds(quota: Quota, more_shifts: int) -> bool:
    """Whether shifts that do not count for `quota` (`more_shifts` of them, net) leave its share no worse:
    more of them only lower the share, which a maximum alone welcomes; fewer only raise it."""
    if more_shifts >= 0 and quota.min_share is None:
        return True
    return more_shifts <= 0 and quota.max_share is None


def _well_within(quota: Quota, total: int, attributed: float) -> bool:
    """Whether a share of `attributed` in `total` shifts keeps the quota's bounds by more than rounding could
    hide: its deviation is then 0, no worse than before, with no exact arithmetic (most quotas after most moves)."""
    if quota.min_share is not None and attributed - float(quota.min_share) * total <= ROUNDING:
        return False
    return quota.max_share is None or float(quota.max_share) * total - attributed > ROUNDING


def _over(maximum: Fraction | None, total: int, attributed: Fraction) -> bool:
    return maximum is not None and attributed > maximum * total


def _headroom(bound: Fraction | None, side: str, total: int, attributed: Fraction, weight: Fraction) -> float | None:
    """Most shifts of a request counting `weight` per shift that keep the bound; None when any number does."""
    if bound is None:
        return None
    if side == "maximum":
        if weight <= bound:
            return None
        return max(0.0, float((bound * total - attributed) / (weight - bound)))
    if weight >= bound:
        return None
    return max(0.0, float((attributed - bound * total) / (bound - weight)))


class _Explainer:
    def __init__(self, problem: Problem, placements: Sequence[Placement]) -> None:
        self.problem = problem
        self.schedule = _Schedule(problem, placements)
        self.rank_key = [(request.priority, request.name) for request in problem.requests]
        """Lowest priority first, then by name."""

    def name(self, r: int) -> str:
        return self.problem.requests[r].name

    def names(self, requests: Iterable[int]) -> str:
        return ", ".join(self.name(r) for r in requests)

    def instrument_names(self, instruments: Iterable[int]) -> str:
        return ", ".join(self.problem.instruments[i].name for i in instruments)

    def priority(self, r: int) -> float:
        return self.problem.requests[r].priority

    def explain(self) -> tuple[Unallocated, ...]:
        verdicts: dict[int, _Verdict] = {}
        for r in range(len(self.problem.requests)):
            if r in self.schedule.placed or r in verdicts:
                continue
            members = self.schedule.components[r] or (r,)
            unplaced = [m for m in members if m not in self.schedule.placed]
            if len(unplaced) == 1:
                verdict = self.alone(r)
                verdicts[r] = verdict if verdict.fits is None else self.timed_out(verdict, verdict.fits, ())
            else:
                verdicts.update(self.together(unplaced))
        return tuple(
            Unallocated(r, verdict.reason, verdict.detail, verdict.competitors, verdict.held)
            for r, verdict in sorted(verdicts.items())
        )

    def timed_out(self, verdict: _Verdict, where: Placement, partners: Sequence[Placement]) -> _Verdict:
        others = "".join(
            f", with {self.name(p.request)} at shift {p.start} on {self.instrument_names([p.instrument])}"
            for p in partners
        )
        detail = (
            f"fits as it is at shift {where.start} on {self.instrument_names([where.instrument])}{others} "
            "with every rule holding, yet was left out: by a search that stopped at its time limit, or by hand "
            "(solve again with a longer limit, or add it)"
        )
        return replace(verdict, reason=TIMED_OUT, detail=detail, search_stopped=True)

    def waits_for_partners(self, verdict: _Verdict, where: Placement, partners: Sequence[int]) -> _Verdict:
        """It fits alone, but all-or-nothing it goes only with partners that only an improving swap makes room for."""
        detail = (
            f"would fit at shift {where.start} on {self.instrument_names([where.instrument])}, but it is linked "
            f"all-or-nothing with {self.names(partners)}, for which only a swap the search did not make before its "
            "time limit makes room (solve again with a longer limit)"
        )
        return replace(verdict, reason=TIMED_OUT, detail=detail, search_stopped=True)

    # One request, its all-or-nothing partners aside

    def alone(self, r: int) -> _Verdict:
        request = self.problem.requests[r]
        usable = {i: runs for i in request.instruments if (runs := usable_runs(self.problem, r, i))}
        if not usable:
            return _Verdict(
                "window",
                f"no {request.min_shifts} consecutive shifts on {self.instrument_names(request.instruments)} "
                "are free of maintenance windows and the team's unavailability within its dates",
            )
        holders = {p.request for i, runs in usable.items() for p in self.schedule.holding(i, runs)}
        competitors = tuple(sorted(holders, key=self.rank_key.__getitem__))
        gaps = {i: gaps for i, runs in usable.items() if (gaps := self.schedule.free(r, i, runs))}
        if gaps:
            return self.at_a_gap(r, gaps, competitors)
        return self.behind_others(r, usable, competitors)

    def at_a_gap(self, r: int, gaps: dict[int, list[Span]], competitors: tuple[int, ...]) -> _Verdict:
        schedule, request = self.schedule, self.problem.requests[r]
        length = request.min_shifts
        places = [(i, s) for i, runs in gaps.items() for a, b in runs for s in range(a, b - length + 1)]
        places = [(i, s) for i, s in places if schedule.equipment_free(r, s, length)]
        if not places:
            items = ", ".join(self.problem.equipment[e].name for e in request.equipment)
            return _Verdict("equipment", f"{items} is in use at every gap its instruments have", competitors)
        places = [(i, s) for i, s in places if schedule.reserve_allows(i, length)]
        if not places:
            full = self.instrument_names(gaps)
            return _Verdict("capacity", f"{full} reached the share of time kept in reserve", competitors)
        places = [(i, s) for i, s in places if schedule.after_holds(r, s, length)]
        if not places:
            partners = self.names(schedule.after_partners(r))
            return _Verdict("link", f"no gap keeps the required distance to its linked {partners}", competitors)
        first: dict[int, int] = {}
        for i, s in places:
            first.setdefault(i, s)
        effects = {i: schedule.quota_effect([(Placement(r, i, s, length), 1)]) for i, s in first.items()}
        gain = request.priority * length
        for i, effect in effects.items():
            if not effect.broken and effect.penalty < gain:
                return _Verdict(TIMED_OUT, "", competitors, fits=Placement(r, i, first[i], length), search_stopped=True)
        costly = [effect for effect in effects.values() if not effect.broken]
        if costly:
            return _Verdict(
                "quota",
                f"placing it ({length} shifts x {request.priority:.2f} = {gain:.2f}) would cost more in soft "
                f"quota penalties than it adds: {'; '.join(costly[0].soft)}",
                competitors,
            )
        return _Verdict(
            "quota", f"giving it time would break {'; '.join(effects[next(iter(effects))].broken)}", competitors
        )

    def behind_others(self, r: int, usable: dict[int, list[Span]], competitors: tuple[int, ...]) -> _Verdict:
        request = self.problem.requests[r]
        mine = request.priority
        where = self.instrument_names(usable)
        # Without a gap, some block holds part of every run: `competitors` is never empty here.
        lower = [c for c in competitors if self.priority(c) < mine]
        if not lower:
            lowest = self.priority(competitors[0])
            higher = "rank higher" if lowest > mine else "rank as high or higher"
            return _Verdict(
                "capacity",
                f"all {len(competitors)} blocks in its dates on {where} {higher}; "
                f"lowest {lowest:.2f} vs its {mine:.2f}",
                competitors,
            )
        held: list[tuple[int, StayReason, str]] = []
        for c in lower:
            block = self.schedule.placed[c]
            why = self.why_it_stays(r, block, usable[block.instrument])
            if why is not None:
                held.append((c, *why))
        if not held:
            return _Verdict(
                "capacity",
                f"{len(lower)} of the {len(competitors)} blocks in its dates on {where} rank lower (lowest "
                f"{self.priority(lower[0]):.2f} vs its {mine:.2f}), but removing any one of them alone leaves no "
                f"{request.min_shifts}-shift gap",
                competitors,
            )
        # A swap the search missed is what a coordinator can act on first; otherwise the lowest-ranked block.
        c, stays, words = next((h for h in held if h[1] == "search_limit"), held[0])
        block = self.schedule.placed[c]
        more = f"; {len(held) - 1} more lower-ranked blocks would each make room" if len(held) > 1 else ""
        return _Verdict(
            _STAY_REASON[stays],
            f"{self.name(c)} (priority {self.priority(c):.2f} vs {mine:.2f}) holds shifts {block.start}-"
            f"{block.end - 1} on {self.instrument_names([block.instrument])} that {self.name(r)} could use; "
            f"it stays because {words}{more}",
            competitors,
            tuple(HeldBlock(c, stays) for c, stays, _ in held),
            search_stopped=stays == "search_limit",
        )

    def why_it_stays(self, r: int, block: Placement, runs: list[Span]) -> tuple[StayReason, str] | None:
        """Why `block` stays when its removal alone would make room for `r`; None when it would not."""
        schedule, request = self.schedule, self.problem.requests[r]
        changeover = self.problem.instruments[block.instrument].changeover
        low, high = block.start - changeover, block.end + changeover
        near = [(a, b) for a, b in runs if a < high and low < b]
        gaps = schedule.free(r, block.instrument, near, removed=block)
        if not gaps:
            return None
        if block.request in schedule.pinned:
            return "pinned", "it is pinned: kept exactly from the schedule in force (as in the frozen horizon)"
        partners = [m for m in schedule.components[block.request] or () if m != block.request and m in schedule.placed]
        if partners:
            return "link", f"it is linked all-or-nothing with {self.names(partners)}, which keep their time"
        places = self.places_in(r, block, gaps)
        spots = [p for p in places if schedule.equipment_free(r, p.start, p.shifts, block)]
        if not spots:
            items = ", ".join(self.problem.equipment[e].name for e in request.equipment)
            return "equipment", f"{items} is in use there"
        spots = [p for p in spots if schedule.after_holds(r, p.start, p.shifts, block)]
        if not spots:
            return (
                "link",
                f"no place there keeps the required distance to its linked {self.names(schedule.after_partners(r))}",
            )
        spots = [p for p in spots if schedule.reserve_allows(p.instrument, p.shifts, block)]
        if not spots:
            return "reserve", f"{self.name(r)} would take {self.instrument_names([block.instrument])} into its reserve"
        return self.worth_of_swap(block, spots[0])

    def places_in(self, r: int, block: Placement, gaps: list[Span]) -> list[Placement]:
        """The request's blocks in the freed gaps: longest length first, then earliest start."""
        request = self.problem.requests[r]
        places = []
        for a, b in gaps:
            for shifts in sorted({min(request.shifts, b - a), request.min_shifts}, reverse=True):
                places += [Placement(r, block.instrument, s, shifts) for s in range(a, b - shifts + 1)]
        return sorted(places, key=lambda p: (-p.shifts, p.start))

    def worth_of_swap(self, block: Placement, place: Placement) -> tuple[StayReason, str]:
        """Why a swap that keeps every space rule is not made: a hard quota, or it does not pay."""
        problem, me = self.problem, self.name(place.request)
        effect = self.schedule.quota_effect([(block, -1), (place, 1)])
        if effect.broken:
            return "quota", f"removing it for {me} would break {'; '.join(effect.broken)}"
        theirs = problem.requests[block.request].priority * block.shifts
        mine = problem.requests[place.request].priority * place.shifts
        if theirs >= mine:
            return "objective", (
                f"its {block.shifts} shifts x {problem.requests[block.request].priority:.2f} = {theirs:.2f} are worth "
                f"at least {me}'s {place.shifts} x {problem.requests[place.request].priority:.2f} = {mine:.2f}"
            )
        bonus = problem.stability * theirs if block in self.schedule.previous else 0.0
        if theirs + bonus >= mine:
            return (
                "stability",
                f"it is kept from the schedule in force, worth {theirs + bonus:.2f} to {me}'s {mine:.2f}",
            )
        if theirs + bonus + effect.penalty >= mine:
            return "soft_quota", f"the swap costs more in soft quota penalties than it gains: {'; '.join(effect.soft)}"
        return "search_limit", (
            f"of the search's limit: {me} at shift {place.start} for {place.shifts} shifts instead passes every rule "
            f"and raises the objective by {mine - theirs - bonus - effect.penalty:.2f}"
        )

    # All-or-nothing partners

    def together(self, members: Sequence[int]) -> dict[int, _Verdict]:
        """Members stopped by a cause of their own keep it; the others point at one of them (the root cause)."""
        alone = {m: self.alone(m) for m in members}
        stuck = [m for m in members if alone[m].fits is None and not alone[m].search_stopped]
        if not stuck:
            if all(alone[m].fits is not None for m in members):
                return self.tried_together(members, alone)
            linked = {
                m: f"; it is linked all-or-nothing with {self.names(o for o in members if o != m)}" for m in members
            }
            return {
                m: self.waits_for_partners(v, v.fits, [o for o in members if o != m])
                if v.fits
                else replace(v, detail=v.detail + linked[m])
                for m, v in alone.items()
            }
        root = min(stuck, key=lambda m: (alone[m].reason != "window", members.index(m)))
        verdicts = {}
        for m in members:
            others = [o for o in members if o != m]
            partner_stuck = any(o in stuck for o in others)
            held = tuple(
                HeldBlock(h.request, "link") if partner_stuck and h.stays_because == "search_limit" else h
                for h in alone[m].held
            )
            if m in stuck:
                verdicts[m] = replace(alone[m], held=held)
            else:
                verdicts[m] = _Verdict(
                    "link",
                    f"linked all-or-nothing with {self.names(others)}; {self.name(root)} got no time because "
                    f"{alone[root].detail}",
                    alone[m].competitors,
                    held,
                )
        return verdicts

    def tried_together(self, members: Sequence[int], alone: dict[int, _Verdict]) -> dict[int, _Verdict]:
        """Members that each fit alone: the quotas judge their blocks together, then they are placed one after
        another. All fit (the search stopped), or the quota or the first member that no longer fits says why."""
        schedule = self.schedule
        jointly = schedule.quota_effect([(verdict.fits, 1) for verdict in alone.values() if verdict.fits])
        if jointly.broken:
            return self.group_verdicts(members, alone, "quota", f"they would break {'; '.join(jointly.broken)}")
        placed: list[Placement] = []
        failure: tuple[int, _Verdict] | None = None
        try:
            for m in members:
                verdict = alone[m] if not placed else self.alone(m)
                if verdict.fits is None:
                    failure = (m, verdict)
                    break
                placed.append(verdict.fits)
                schedule.add(verdict.fits)
        finally:
            for placement in placed:
                schedule.remove(placement)
        if failure is not None:
            m, verdict = failure
            first = self.names(p.request for p in placed)
            why = f"with {first} placed, {self.name(m)} no longer fits: {verdict.detail}"
            return self.group_verdicts(members, alone, verdict.reason, why)
        gain = sum(self.problem.requests[p.request].priority * p.shifts for p in placed)
        effect = schedule.quota_effect([(p, 1) for p in placed])
        if effect.broken:
            return self.group_verdicts(members, alone, "quota", f"they would break {'; '.join(effect.broken)}")
        if effect.penalty >= gain:
            why = f"they would cost more in soft quota penalties than they add ({gain:.2f}): {'; '.join(effect.soft)}"
            return self.group_verdicts(members, alone, "quota", why)
        return {
            m: self.timed_out(alone[m], where, [p for p in placed if p.request != m])
            for m, where in zip(members, placed, strict=True)
        }

    def group_verdicts(
        self, members: Sequence[int], alone: dict[int, _Verdict], reason: Reason, why: str
    ) -> dict[int, _Verdict]:
        return {
            m: _Verdict(
                reason,
                f"it fits alone, but it is linked all-or-nothing with {self.names(o for o in members if o != m)} "
                f"and together they do not: {why}",
                alone[m].competitors,
            )
            for m in members
        }


def explain_unallocated(problem: Problem, placements: Sequence[Placement]) -> tuple[Unallocated, ...]:
    """Every unallocated request with its reason, its competitors and the lower-ranked blocks that stay."""
    return _Explainer(problem, placements).explain()


def explain_infeasibility(problem: Problem, settings: Settings) -> tuple[str, ...]:
    """A small set of pinned allocations and hard quotas that cannot all hold, in words."""
    from ortools.sat.python import cp_model  # here, not with the module: `solver.model` says why

    built = build(problem, ModelData.of(problem), diagnose=True)
    literals = list(built.assumptions)
    built.model.add_assumptions(literals)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = min(settings.time_limit, DIAGNOSIS_SECONDS)
    solver.parameters.num_workers = 1
    status = solver.solve(built.model)
    if status != cp_model.INFEASIBLE:
        return ("the pinned allocations conflict, but no smaller cause was found in time",)
    core = solver.sufficient_assumptions_for_infeasibility()
    by_index = {literal.index: name for literal, name in built.assumptions.items()}
    causes = sorted(by_index[index] for index in core if index in by_index)
    if not causes:
        return ("the round's hard rules cannot hold together even with nothing allocated",)
    return (f"these cannot hold together: {'; '.join(causes)}",)
