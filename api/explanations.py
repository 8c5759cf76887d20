"""The scheduler's sentences in the page's language: why a request got no time, why a slot changed, whose time a
quota counts, which rule a move breaks, why a solve failed, and a calendar feed's events.

The schedule file's contract keeps an unallocated request's `detail` in English: the engine writes it from its
figures (shifts, instruments, competitors, priorities, quota shares), as the scheduler writes a change notice's
reason, a proposal's exclusion, the referee's rules and a solve run's error. Each form those sentences take is a
message of the catalogue whose English is the form itself, `%(name)s` standing for a part (`api.sentences`).
Read back against that form, a sentence's figures become the locale's numbers, its nested sentences are told
again, and its names (requests, instruments, quotas) stay. A sentence of a form not listed here, or with a part
that is not, stays in the file's English.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from api.i18n import DEFAULT_LOCALE, N_
from api.sentences import NUMBER, RULES, SHIFTS, Form, Part, choice, kept, words


def _listed(separator: str) -> Callable[[str, str], str | None]:
    """Sentences joined where the next one begins (`separator` matches the join), each told, joined alike."""
    splitter = re.compile(separator)

    def tell(text: str, locale: str) -> str | None:
        if not text:
            return ""
        parts = [explained(piece, locale) for piece in splitter.split(text) if piece]
        joiner = splitter.search(text)
        if any(part is None for part in parts):
            return None
        return (joiner.group(0) if joiner else "").join(part for part in parts if part is not None)

    return tell


def _told(text: str, locale: str) -> str | None:
    return explained(text, locale) if text else ""


NAMES = Part(r"[^;]+?", kept, "P-002-a, P-003-b")
"""Requests joined by commas: no sentence's "; " inside."""
SENTENCE = Part(r".+?", _told, "no shifts yet")
QUOTAS = Part(
    r".+?",
    _listed(r"; (?=(?:soft|hard) quota )"),
    "hard quota foreign-min: no shifts yet against its minimum 20%; adding nothing (+0.0 counted to it) takes it to "
    "nothing; soft quota cis-min: 4.5% of 14 shifts against its minimum 10%; adding 2 shifts (+2.0 counted to it) "
    "takes it to 5.0%, a penalty of 3.00",
)
"""Quota figures joined by "; ", each of which also has "; " inside: split where the next one begins."""
PLACED_WITH = Part(r"(?:, with .+?)*", _listed(r"(?=, with )"), ", with P-002-a at shift 3 on SKIF-1-1")
"""The partners placed with a request that fits, each ", with <request> at shift <n> on <instrument>"."""


AS_WRITTEN = Part(r".+", kept, "ValueError: no instrument SKIF-1-9")
"""What a program wrote (an exception's text, the round checker's findings with their JSON paths): a diagnostic
for whoever fixes the data or the program, kept as it was written."""


def _findings(separator: str) -> Callable[[str, str], str | None]:
    """The round checker's findings joined by `separator`, each `<path>: <message>` as `InputProblem` writes it:
    a message told where its form is known, else kept as written (pydantic's own words), its path as it is."""
    splitter = re.compile(separator)

    def tell(text: str, locale: str) -> str:
        told = []
        for piece in splitter.split(text):
            where, colon, finding = piece.partition(": ")
            said = explained(finding, locale) if colon else None
            told.append(f"{where}: {said}" if said is not None else explained(piece, locale) or piece)
        joiner = splitter.search(text)
        return (joiner.group(0) if joiner else "").join(told)

    return tell


FINDINGS = Part(r".+", _findings(r"\n"), "$.proposals[0].requests[0].min_shifts: min_shifts 5 is above shifts 3")
"""A round's problems, a line each (`scheduler.jobs.worker`, `scheduler.nightly.decide`)."""
SET_ASIDE = Part(r".+", _findings(r"; (?=\S+: )"), "P-001.requests[0].min_shifts: min_shifts 5 is above shifts 3")
"""A proposal's problems joined by "; ", each after the path of what is wrong (`scheduler.roundfile.solving`)."""
CODE = Part(r"\S+", kept, "P-001-a")
"""An id of the round file: no spaces (`scheduler.fields.Code`)."""
PINNED = Part(r"the pinned block \[-?\d+, -?\d+\)", _told, "the pinned block [3, 7)")
"""A previous schedule's pinned block as the round checker names it."""
LABEL = Part(r"\S+ on \S+ \[-?\d+, -?\d+\)", _told, "P-001-a on SKIF-1-1 [3, 7)")
"""A block as the referee names it: its request, instrument and shifts."""

LENGTH_NOUN = Part(r"characters?|items?", kept, "characters")
"""pydantic's noun after a length limit (singular for 1): the Russian forms need none."""
QUOTA = Part(r"[^ ]+", kept, "country-max[RU]")
"""A quota's id: no spaces."""
HEADROOM = Part(r"(?:; headroom .+? one)?", _told, "; headroom 1.0 shifts for a request counted like this one")


PROPOSAL_TYPES: dict[str, str] = {
    "standard": N_("standard"),
    "rapid_access": N_("rapid access"),
    "long_term": N_("long-term"),
    "industrial": N_("industrial"),
    "in_house": N_("in-house"),
}
"""scheduler.roundfile.contract.ProposalType, as the kind of a proposal."""
WINDOWS: dict[str, str] = {
    "maintenance": N_("maintenance window"),
    "machine_development": N_("machine development window"),
    "shutdown": N_("shutdown window"),
    "other": N_("other window"),
}
"""scheduler.roundfile.contract.WindowKind, as a window."""
NEW_WINDOW = choice({kind.replace("_", " ") + " window": message for kind, message in WINDOWS.items()})
"""A window as a change notice names it (`scheduler.schedules.notices`)."""
QUOTA_FIGURES: dict[str, Part] = {
    "kind": words(N_("soft quota"), N_("hard quota")),
    "quota": QUOTA,
    "share": SENTENCE,
    "side": words(N_("against its maximum"), N_("against its minimum")),
    "bound": NUMBER,
    "headroom": HEADROOM,
    "change": SENTENCE,
    "counted": NUMBER,
    "after": SENTENCE,
}
"""A quota's share before a change against its bound, the headroom, the change and the share after
(`solver.explain`)."""


N = NUMBER
FORMS: tuple[Form, ...] = (
    # scheduler.schedules.confidential.PUBLIC_DETAIL: a request's reason in words that name no other proposal
    Form(N_("The proposal's score is below the round's cut-off.")),
    Form(N_("The proposal was not found technically feasible.")),
    Form(N_("The time it could use went to proposals ranked higher or kept by the round's rules.")),
    Form(N_("A quota of the round (a share of the time for a country, group or proposal type) left no room for it.")),
    Form(N_("It was not placed in its dates: maintenance, its unavailable periods or the search's time limit.")),
    Form(N_("A request it is linked with could not be scheduled, so it is not scheduled either.")),
    Form(N_("The shared equipment it needs was in use by other experiments at the times it could use.")),
    # scheduler.roundfile.scoring and scheduler.roundfile.schedule: a proposal left out before the engine
    Form(N_("not technically feasible")),
    Form(N_("%(usable)s usable review(s), %(required)s required"), {"usable": N, "required": N}),
    Form(N_("score %(grade)s worse than the cut-off %(cutoff)s"), {"grade": N, "cutoff": N}),
    Form(N_("inadmissible: %(reason)s")),
    Form(N_("no schedule: the round is %(status)s; see notes"), {"status": words("infeasible", "unknown")}),
    # solver.explain: a request that fits, and one waiting for its all-or-nothing partners
    Form(
        N_(
            "fits as it is at shift %(start)s on %(instrument)s%(others)s with every rule holding, yet was left out: "
            "by a search that stopped at its time limit, or by hand (solve again with a longer limit, or add it)"
        ),
        {"start": N, "others": PLACED_WITH},
    ),
    Form(N_(", with %(request)s at shift %(start)s on %(instrument)s"), {"start": N}),
    Form(
        N_(
            "would fit at shift %(start)s on %(instrument)s, but it is linked all-or-nothing with %(partners)s, for "
            "which only a swap the search did not make before its time limit makes room (solve again with a longer "
            "limit)"
        ),
        {"start": N, "partners": NAMES},
    ),
    # solver.explain: one request alone
    Form(
        N_(
            "no %(shifts)s consecutive shifts on %(instruments)s are free of maintenance windows and the team's "
            "unavailability within its dates"
        ),
        {"shifts": N},
    ),
    Form(N_("%(equipment)s is in use at every gap its instruments have")),
    Form(N_("%(instruments)s reached the share of time kept in reserve")),
    Form(N_("no gap keeps the required distance to its linked %(partners)s"), {"partners": NAMES}),
    Form(
        N_(
            "placing it (%(shifts)s shifts x %(priority)s = %(gain)s) would cost more in soft quota penalties than "
            "it adds: %(quotas)s"
        ),
        {"shifts": N, "priority": N, "gain": N, "quotas": QUOTAS},
    ),
    Form(N_("giving it time would break %(quotas)s"), {"quotas": QUOTAS}),
    Form(
        N_("all %(blocks)s blocks in its dates on %(instruments)s rank higher; lowest %(lowest)s vs its %(own)s"),
        {"blocks": N, "lowest": N, "own": N},
    ),
    Form(
        N_(
            "all %(blocks)s blocks in its dates on %(instruments)s rank as high or higher; lowest %(lowest)s vs its "
            "%(own)s"
        ),
        {"blocks": N, "lowest": N, "own": N},
    ),
    Form(
        N_(
            "%(lower)s of the %(blocks)s blocks in its dates on %(instruments)s rank lower (lowest %(lowest)s vs its "
            "%(own)s), but removing any one of them alone leaves no %(shifts)s-shift gap"
        ),
        {"lower": N, "blocks": N, "lowest": N, "own": N, "shifts": N},
    ),
    Form(
        N_(
            "%(holder)s (priority %(theirs)s vs %(own)s) holds shifts %(first)s-%(last)s on %(instrument)s that "
            "%(request)s could use; it stays because %(why)s; %(more)s more lower-ranked blocks would each make room"
        ),
        {"theirs": N, "own": N, "first": N, "last": N, "why": SENTENCE, "more": N},
    ),
    Form(
        N_(
            "%(holder)s (priority %(theirs)s vs %(own)s) holds shifts %(first)s-%(last)s on %(instrument)s that "
            "%(request)s could use; it stays because %(why)s"
        ),
        {"theirs": N, "own": N, "first": N, "last": N, "why": SENTENCE},
    ),
    # solver.explain: why a lower-ranked block whose removal alone would make room stays
    Form(N_("it is pinned: kept exactly from the schedule in force (as in the frozen horizon)")),
    Form(N_("it is linked all-or-nothing with %(partners)s, which keep their time"), {"partners": NAMES}),
    Form(N_("%(equipment)s is in use there")),
    Form(N_("no place there keeps the required distance to its linked %(partners)s"), {"partners": NAMES}),
    Form(N_("%(request)s would take %(instrument)s into its reserve")),
    Form(N_("removing it for %(request)s would break %(quotas)s"), {"quotas": QUOTAS}),
    Form(
        N_(
            "its %(shifts)s shifts x %(priority)s = %(worth)s are worth at least %(request)s's %(own_shifts)s x "
            "%(own_priority)s = %(own_worth)s"
        ),
        {"shifts": N, "priority": N, "worth": N, "own_shifts": N, "own_priority": N, "own_worth": N},
    ),
    Form(
        N_("it is kept from the schedule in force, worth %(worth)s to %(request)s's %(own_worth)s"),
        {"worth": N, "own_worth": N},
    ),
    Form(N_("the swap costs more in soft quota penalties than it gains: %(quotas)s"), {"quotas": QUOTAS}),
    Form(
        N_(
            "of the search's limit: %(request)s at shift %(start)s for %(shifts)s shifts instead passes every rule "
            "and raises the objective by %(gain)s"
        ),
        {"start": N, "shifts": N, "gain": N},
    ),
    # solver.explain: all-or-nothing partners
    Form(N_("%(detail)s; it is linked all-or-nothing with %(partners)s"), {"detail": SENTENCE, "partners": NAMES}),
    Form(
        N_("linked all-or-nothing with %(partners)s; %(request)s got no time because %(why)s"),
        {"partners": NAMES, "why": SENTENCE},
    ),
    Form(N_("with %(placed)s placed, %(request)s no longer fits: %(why)s"), {"placed": NAMES, "why": SENTENCE}),
    Form(N_("they would break %(quotas)s"), {"quotas": QUOTAS}),
    Form(
        N_("they would cost more in soft quota penalties than they add (%(gain)s): %(quotas)s"),
        {"gain": N, "quotas": QUOTAS},
    ),
    Form(
        N_("it fits alone, but it is linked all-or-nothing with %(partners)s and together they do not: %(why)s"),
        {"partners": NAMES, "why": SENTENCE},
    ),
    # solver.explain: a quota's share before and after a change
    Form(N_("%(figures)s, a penalty of %(penalty)s"), {"figures": SENTENCE, "penalty": N}),
    Form(
        N_(
            "%(kind)s %(quota)s (%(counts)s): %(share)s %(side)s %(bound)s%%%(headroom)s; %(change)s (%(counted)s "
            "counted to it) takes it to %(after)s"
        ),
        QUOTA_FIGURES | {"counts": SENTENCE},
    ),
    Form(
        N_(
            "%(kind)s %(quota)s: %(share)s %(side)s %(bound)s%%%(headroom)s; %(change)s (%(counted)s counted to it) "
            "takes it to %(after)s"
        ),
        QUOTA_FIGURES,
    ),
    Form(N_("%(share)s%% of %(shifts)s shifts"), {"share": N, "shifts": N}),
    Form(N_("no shifts yet")),
    Form(N_("%(share)s%%"), {"share": N}),
    Form(N_("nothing")),
    Form(N_("; headroom %(shifts)s shifts for a request counted like this one"), {"shifts": N}),
    Form(N_("%(change)s and removing %(shifts)s"), {"change": SENTENCE, "shifts": N}),
    Form(N_("adding %(shifts)s shifts"), {"shifts": N}),
    Form(N_("adding nothing")),
    # scheduler.roundfile.build: whose time a quota counts
    Form(N_("country %(country)s")),
    Form(N_("country group %(group)s")),
    Form(N_("foreign proposals")),
    Form(N_("domestic proposals")),
    Form(N_("%(type)s proposals"), {"type": choice(PROPOSAL_TYPES)}),
    # scheduler.schedules.notices: why a slot changed
    Form(N_("cancelled")),
    Form(N_("changed by a coordinator")),
    Form(N_("the round was replaced from a round file")),
    Form(N_("the proposal is no longer in the round: it was replaced from a round file")),
    Form(N_("moved to make room")),
    Form(N_("dropped to make room")),
    Form(N_("shortened to make room")),
    Form(N_("lengthened into freed time")),
    Form(N_("added from the waiting list")),
    Form(N_("new %(type)s proposal"), {"type": choice({k.replace("_", "-"): v for k, v in PROPOSAL_TYPES.items()})}),
    Form(
        N_("new %(window)s on %(place)s: %(reason)s"),
        {"window": NEW_WINDOW},
    ),
    Form(
        N_("new %(window)s on %(place)s"),
        {"window": NEW_WINDOW},
    ),
    # a schedule version's note (scheduler.jobs.worker, scheduler.schedules.service, scheduler.rounds.importer,
    # scheduler.nightly.repair)
    Form(
        N_("solve %(run)s of input revision %(revision)s stale: the round changed since (input revision %(current)s)"),
        {"run": N, "revision": N, "current": N},
    ),
    Form(N_("solve %(run)s of input revision %(revision)s"), {"run": N, "revision": N}),
    Form(
        N_("version %(number)s with %(moves)s"),
        {"number": N, "moves": Part(r".+?", _listed(r", (?=\S+ moved to )"), "P-001-a moved to SKIF-1-1 [3, 7)")},
    ),
    Form(N_("%(request)s moved to %(instrument)s [%(start)s, %(end)s)"), {"start": N, "end": N}),
    Form(N_("previous_schedule of the imported round file")),
    Form(N_("nightly repair of %(night)s, published by itself")),
    Form(N_("nightly repair of %(night)s: no change to the published schedule")),
    Form(
        N_("nightly repair waiting for review: %(reasons)s"),
        {"reasons": Part(r".+?", _listed(r"; "), "the solve was stopped before it finished")},
    ),
    Form(N_("the solve was stopped before it finished")),
    Form(N_("slots inside the frozen horizon broke a rule and were freed: %(requests)s")),
    Form(N_("%(slots)s published slot(s) inside the frozen horizon changed"), {"slots": N}),
    Form(
        N_("%(share)s%% of the published slots changed, above the round's limit of %(limit)s%%"),
        {"share": N, "limit": N},
    ),
    Form(N_("the round does not publish nightly repairs by itself")),
    # why a page is refused (scheduler.access.require, api.web.views.round, api.limits, Litestar's validation)
    Form(N_("no round %(round)s")),
    Form(N_("you may not do %(operation)s on round %(round)s")),
    Form(N_("the round has no schedule version %(version)s")),
    Form(N_("round %(round)s has no versions %(before)s and %(after)s")),
    Form(N_("round %(round)s has no schedule version yet")),
    Form(N_("round %(round)s has no instrument %(instrument)s")),
    Form(N_("the round has weeks 1 to %(weeks)s"), {"weeks": N}),
    Form(N_("Validation failed for %(method)s %(path)s"), {"method": Part(r"[A-Z]+", kept, "GET")}),
    Form(N_("the request body is larger than this endpoint accepts: at most %(size)s")),
    # why the round page's script is refused an action (scheduler.jobs, scheduler.schedules.service)
    Form(N_("no solve %(run)s"), {"run": N}),
    Form(N_("you may not do %(operation)s on solve %(run)s"), {"run": N}),
    Form(
        N_("solve %(run)s has ended already (%(state)s): there is nothing to cancel"),
        {"run": N, "state": words("done", "failed", "cancelled", "skipped")},
    ),
    Form(N_("the round has solve %(run)s under way: cancel it or wait for it to end"), {"run": N}),
    Form(
        N_("you have %(count)s solves under way (%(runs)s), the most one may: wait for one to end"),
        {"count": N, "runs": NAMES},
    ),
    Form(
        N_("version %(number)s is %(status)s; only drafts can be published"),
        {"number": N, "status": words("published", "superseded")},
    ),
    Form(
        N_("version %(number)s is %(status)s; only drafts can be pinned or unpinned"),
        {"number": N, "status": words("published", "superseded")},
    ),
    Form(N_("another version of the round was published at the same time; reload")),
    Form(N_("version %(number)s is no longer a draft; reload"), {"number": N}),
    Form(N_("version %(number)s has no allocation for request %(request)s"), {"number": N}),
    Form(N_("another version of the round was saved at the same time; try again")),
    # api.web.views.palette: a quota's category, scope and attribution
    Form(N_("Foreign")),
    Form(N_("Domestic")),
    Form(N_("Country %(country)s")),
    Form(N_("Group %(group)s")),
    Form(
        N_("%(type)s proposals"),
        {"type": choice({k.replace("_", " ").capitalize(): v for k, v in PROPOSAL_TYPES.items()})},
    ),
    Form(N_("Each country")),
    Form(N_("Each foreign country")),
    Form(N_("all instruments")),
    Form(N_("by team")),
    Form(N_("by PI")),
    # scheduler.roundfile.validate: a rule a schedule breaks (a refused move, a drag's verdict, a stale draft)
    Form(
        N_("%(request)s on %(instrument)s [%(start)s, %(end)s)"),
        {"request": CODE, "instrument": CODE, "start": N, "end": N},
    ),
    Form(N_("competitor %(request)s has no allocation")),
    Form(
        N_("competitor %(request)s has priority %(priority)s, its allocation %(allocated)s"),
        {"priority": N, "allocated": N},
    ),
    Form(N_("held block %(request)s is not a listed competitor")),
    Form(N_("request %(request)s is not in the round")),
    Form(N_("request %(request)s belongs to proposal %(proposal)s, not %(other)s")),
    Form(N_("request %(request)s asks for instruments %(instruments)s, not %(instrument)s")),
    Form(N_("schedule is for round %(round)s, not %(expected)s")),
    Form(N_("request %(request)s appears again (first at %(first)s)")),
    Form(N_("request %(request)s of proposal %(proposal)s is in neither allocations nor unallocated")),
    Form(N_("objective %(objective)s is not the sum of priority × shifts %(expected)s")),
    Form(
        N_("request %(request)s gets %(shifts)s, outside [%(shortest)s, %(longest)s]"),
        {"shifts": SHIFTS, "shortest": N, "longest": N},
    ),
    Form(N_("%(block)s leaves the grid of %(shifts)s"), {"block": LABEL, "shifts": SHIFTS}),
    Form(N_("%(block)s uses blocked shifts %(shifts)s (%(window)s)"), {"block": LABEL, "window": SENTENCE}),
    Form(N_("%(window)s of facility %(facility)s"), {"window": choice({f"{k} window": m for k, m in WINDOWS.items()})}),
    Form(
        N_("%(window)s of instrument %(instrument)s"),
        {"window": choice({f"{k} window": m for k, m in WINDOWS.items()})},
    ),
    Form(
        N_("%(block)s reports %(start)s – %(end)s, but its grid times are %(grid_start)s – %(grid_end)s"),
        {"block": LABEL},
    ),
    Form(
        N_("%(block)s overlaps %(other)s; changeover_shifts is %(changeover)s"),
        {"block": LABEL, "other": LABEL, "changeover": N},
    ),
    Form(
        N_("%(block)s starts %(gap)s after the end of %(other)s; changeover_shifts is %(changeover)s"),
        {"block": LABEL, "gap": SHIFTS, "other": LABEL, "changeover": N},
    ),
    Form(N_("%(block)s starts %(start)s, before earliest %(earliest)s"), {"block": LABEL}),
    Form(N_("%(block)s ends %(end)s, after latest %(latest)s"), {"block": LABEL}),
    Form(N_("%(block)s overlaps unavailable %(start)s – %(end)s"), {"block": LABEL}),
    Form(
        N_(
            "equipment %(equipment)s (units %(units)s) is used by requests %(requests)s at once, first at shift "
            "%(shift)s"
        ),
        {"units": N, "shift": N},
    ),
    Form(N_("all_or_nothing link of proposal %(proposal)s: %(allocated)s allocated but %(missing)s not")),
    Form(
        N_(
            "after link of proposal %(proposal)s: %(then)s starts %(gap)s after %(first)s ends, outside [%(min)s, "
            "%(max)s]"
        ),
        {"gap": SHIFTS},
    ),
    Form(
        N_(
            "instrument %(instrument)s has %(allocated)s shifts allocated, above (1 - reserve_share %(share)s) × "
            "%(unblocked)s unblocked shifts = %(capacity)s"
        ),
        {"allocated": N, "share": N, "unblocked": N, "capacity": N},
    ),
    Form(N_("quota %(quota)s"), {"quota": QUOTA}),
    Form(N_("quota %(quota)s for country %(country)s"), {"quota": QUOTA, "country": QUOTA}),
    Form(
        N_("%(quota)s: share %(fraction)s ≈ %(share)s below %(bound)s"),
        {"quota": SENTENCE, "share": N, "bound": N},
    ),
    Form(
        N_("%(quota)s: share %(fraction)s ≈ %(share)s above %(bound)s"),
        {"quota": SENTENCE, "share": N, "bound": N},
    ),
    Form(N_("pinned allocation %(pinned)s is missing"), {"pinned": LABEL}),
    Form(N_("pinned allocation %(pinned)s became %(block)s"), {"pinned": LABEL, "block": LABEL}),
    Form(N_("proposal %(proposal)s gets no time by the scoring rules, but %(block)s is allocated"), {"block": LABEL}),
    Form(N_("proposal %(proposal)s is not technically feasible, but %(block)s is allocated"), {"block": LABEL}),
    # scheduler.schedules.service: a move wrong whatever the others do, and the refusals that list broken rules
    Form(N_("shifts [%(start)s, %(end)s) leave the grid of %(shifts)s"), {"start": N, "end": N, "shifts": N}),
    Form(N_("request %(request)s is pinned in version %(number)s; unpin it first"), {"number": N}),
    Form(N_("the move breaks %(rules)s of the round; nothing was saved"), {"rules": RULES}),
    Form(
        N_(
            "version %(number)s breaks %(rules)s of the round as it is now; nothing was published: solve or edit the "
            "round again"
        ),
        {"number": N, "rules": RULES},
    ),
    # a solve run's error (scheduler.jobs.worker, scheduler.jobs.queue, scheduler.schedules.versions)
    Form(N_("the worker failed: %(error)s"), {"error": AS_WRITTEN}),
    Form(N_("the round is not valid:\n%(problems)s"), {"problems": FINDINGS}),
    Form(N_("the solver failed: %(error)s"), {"error": AS_WRITTEN}),
    Form(N_("the solver process was killed by %(signal)s")),
    Form(N_("the solver process ended without a schedule (exit code %(code)s)")),
    Form(N_("the solver overran its time limit of %(seconds)s s and was stopped"), {"seconds": N}),
    Form(N_("the worker shut down; the best schedule found so far is kept")),
    Form(
        N_("the worker stopped reporting (no heartbeat for %(seconds)s s); it had been retried once already"),
        {"seconds": N},
    ),
    Form(N_("the round no longer has %(missing)s; solve it again"), {"missing": NAMES}),
    # scheduler.nightly.decide: why a night's repair did not run
    Form(N_("the round has no published schedule")),
    Form(
        N_("nothing changed since the published schedule (version %(number)s) was solved"),
        {"number": N},
    ),
    Form(N_("nothing changed since the nightly run of %(night)s (run %(run)s)"), {"run": N}),
    # scheduler.roundfile.solving: a proposal set aside before scoring, with the round checker's findings
    Form(N_("set aside: %(problems)s"), {"problems": SET_ASIDE}),
    # scheduler.roundfile.checks: what is wrong in a round file (a proposal set aside, a round that cannot be solved)
    Form(N_("not valid JSON: %(error)s at line %(line)s, column %(column)s"), {"error": AS_WRITTEN}),
    Form(N_("not UTF-8 text: %(error)s at byte %(byte)s"), {"error": AS_WRITTEN}),
    Form(N_("duplicate facility id %(id)s")),
    Form(N_("duplicate instrument id %(id)s")),
    Form(N_("duplicate equipment id %(id)s")),
    Form(N_("duplicate quota id %(id)s")),
    Form(N_("duplicate proposal id %(id)s")),
    Form(N_("duplicate request id %(id)s")),
    Form(N_("duplicate fair-return target id %(id)s")),
    Form(N_("the round ends at or before its start %(start)s")),
    Form(N_("not one whole shift of %(hours)s hours fits in the round"), {"hours": N}),
    Form(N_("the interval ends at or before its start %(start)s")),
    Form(N_("the round has %(requests)s requests; at most %(most)s"), {"requests": N, "most": N}),
    Form(N_("unknown instrument %(id)s")),
    Form(N_("unknown equipment %(id)s")),
    Form(N_("unknown request %(id)s")),
    Form(N_("unknown fair-return target %(id)s")),
    Form(N_("min_shifts %(min)s is above shifts %(shifts)s"), {"min": N, "shifts": N}),
    Form(N_("min_shifts %(min)s is more than the round's %(shifts)s"), {"min": N, "shifts": SHIFTS}),
    Form(N_("latest %(latest)s is not after earliest %(earliest)s")),
    Form(N_("request %(request)s is of proposal %(owner)s; a link joins its own requests")),
    Form(N_("request %(request)s is listed twice")),
    Form(N_("a request cannot come after itself")),
    Form(N_("max_gap_shifts %(max)s is below min_gap_shifts %(min)s"), {"max": N, "min": N}),
    Form(N_("a second history entry for round %(round)s and target %(target)s")),
    Form(N_("request %(request)s has an allocation already")),
    Form(N_("instrument %(instrument)s is not one of request %(request)s's instruments")),
    Form(N_("the pinned block [%(start)s, %(end)s)"), {"start": N, "end": N}),
    Form(N_("%(block)s is longer than the request's %(shifts)s"), {"block": PINNED, "shifts": SHIFTS}),
    Form(N_("%(block)s is shorter than the request's min_shifts %(min)s"), {"block": PINNED, "min": N}),
    Form(N_("%(block)s ends after the round's %(shifts)s"), {"block": PINNED, "shifts": SHIFTS}),
    Form(
        N_("%(block)s overlaps %(owner)s's %(window)s %(span)s"),
        {"block": PINNED, "owner": CODE, "window": choice({f"{k} window": m for k, m in WINDOWS.items()})},
    ),
    Form(N_("%(block)s starts at %(start)s, before earliest %(earliest)s"), {"block": PINNED}),
    Form(N_("%(block)s ends at %(end)s, after latest %(latest)s"), {"block": PINNED}),
    Form(N_("%(block)s overlaps the request's unavailable %(span)s"), {"block": PINNED}),
    # scheduler.roundfile.checks: a field's problem as validation finds it (`_message`: pydantic's own words for a
    # value of the wrong type or range, with ", got <value>" for a short scalar)
    Form(N_("unknown key")),
    Form(N_("required key is missing")),
    Form(N_("Input should be a valid integer, got a number with a fractional part")),
    Form(N_("%(problem)s, got %(value)s"), {"problem": SENTENCE, "value": AS_WRITTEN}),
    Form(N_("Input should be greater than or equal to %(limit)s"), {"limit": N}),
    Form(N_("Input should be greater than %(limit)s"), {"limit": N}),
    Form(N_("Input should be less than or equal to %(limit)s"), {"limit": N}),
    Form(N_("Input should be less than %(limit)s"), {"limit": N}),
    Form(N_("String should have at least %(limit)s %(noun)s"), {"limit": N, "noun": LENGTH_NOUN}),
    Form(N_("String should have at most %(limit)s %(noun)s"), {"limit": N, "noun": LENGTH_NOUN}),
    Form(
        N_("List should have at least %(limit)s %(noun)s after validation, not %(length)s"),
        {"limit": N, "noun": LENGTH_NOUN, "length": N},
    ),
    Form(
        N_("List should have at most %(limit)s %(noun)s after validation, not %(length)s"),
        {"limit": N, "noun": LENGTH_NOUN, "length": N},
    ),
    Form(N_("Input should be a valid integer, unable to parse string as an integer")),
    Form(N_("Input should be a valid number, unable to parse string as a number")),
    Form(N_("Input should be a valid boolean, unable to interpret input")),
    Form(N_("Input should be a valid datetime, %(error)s"), {"error": AS_WRITTEN}),
    Form(N_("Input should be a valid datetime or date, %(error)s"), {"error": AS_WRITTEN}),
    Form(N_("Input should be a valid dictionary or instance of %(model)s")),
    Form(N_("Input should be a valid integer")),
    Form(N_("Input should be a valid number")),
    Form(N_("Input should be a finite number")),
    Form(N_("Input should be a valid string")),
    Form(N_("Input should be a valid boolean")),
    Form(N_("Input should be a valid list")),
    Form(N_("Input should be a valid dictionary")),
    Form(N_("Input should be a valid datetime")),
    Form(N_("Input should have timezone info")),
    Form(N_("String should match pattern %(pattern)s"), {"pattern": AS_WRITTEN}),
    Form(N_("Input should be %(expected)s"), {"expected": AS_WRITTEN}),
    # scheduler.schedules.calendar: a calendar feed's events
    Form(N_("%(proposal)s on %(instrument_name)s (%(instrument)s)")),
    Form(N_("Cancelled: %(proposal)s on %(instrument_name)s (%(instrument)s)")),
    Form(
        N_("%(title)s\nRound %(round)s, request %(request)s: %(shifts)s, %(when)s"),
        {"shifts": SHIFTS},
    ),
)


@lru_cache(maxsize=4096)
def explained(text: str, locale: str) -> str | None:
    """`text` in `locale` by the first form it takes (a facility round repeats a few forms many times); None when
    it takes none."""
    if locale == DEFAULT_LOCALE:
        return text
    return next((told for form in FORMS if (told := form.tell(text, locale)) is not None), None)


def localized(text: str, locale: str) -> str:
    """For a page: the sentence in `locale`, or in the file's English when its form is not known."""
    return explained(text, locale) or text
