"""One access policy: who may see and change what, per role and facility.

Every service asks here and nowhere else. A decision is a pure function of who
is asking (`Claims`, with the facilities they coordinate) and a few facts about
the thing (its facilities, owner, reviewers), which the services load with the
rows they already hold: the policy reads no database, so one table of rules
covers the API, the dashboard and the exports alike, and the matrix test can
walk every role × operation × relation.

Answers: `ALLOW`; `FORBID` (403) for what the caller may see but not do; `HIDE`
(404) for what the caller may not know exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from sqlalchemy import BindParameter, ColumnElement, exists, or_, true
from sqlmodel import col

from scheduler.accounts.schemas import Claims, Role
from scheduler.db.tables import CoordinatorFacility, Proposal, ReviewAssignment, RoundFacility
from scheduler.errors import Forbidden, NotFound


class Answer(Enum):
    ALLOW = "allow"
    FORBID = "forbid"
    HIDE = "hide"


def coordinates_any(actor: Claims, facilities: Iterable[int]) -> bool:
    return actor.is_admin or (actor.role == "coordinator" and not actor.facilities.isdisjoint(facilities))


def coordinates_all(actor: Claims, facilities: Iterable[int]) -> bool:
    """Every one of them (a shared round's own settings); an empty set is nobody's but admins'."""
    wanted = frozenset(facilities)
    return actor.is_admin or (actor.role == "coordinator" and bool(wanted) and wanted <= actor.facilities)


@dataclass(frozen=True, slots=True)
class Facts:
    """What the policy needs to know about a thing; the services fill in what applies.

    `facilities`: of the thing itself (a facility, an instrument's or window's facility, a round's facilities).
    `asks_for`: the facilities of the instruments a proposal asks for (or a version changes).
    `owner_id`: a proposal's owner; `reviewers`: users assigned to review it; `subject_id`: a user being read.
    `draft`: a schedule version not yet published.
    """

    facilities: frozenset[int] = frozenset()
    asks_for: frozenset[int] = frozenset()
    owner_id: int | None = None
    reviewers: frozenset[int] = field(default_factory=frozenset)
    subject_id: int | None = None
    draft: bool = False


class Operation(StrEnum):
    # The catalogue: public to everyone signed in; changed by the facility's coordinators.
    READ_CATALOGUE = "catalogue.read"
    CREATE_FACILITY = "facility.create"
    CHANGE_FACILITY = "facility.change"
    DELETE_FACILITY = "facility.delete"
    CHANGE_FACILITY_ITEM = "facility-item.change"
    """Instruments, windows and equipment of a facility: create, change, delete."""
    # Rounds: a call for proposals is public; its own settings belong to all its facilities.
    READ_ROUND = "round.read"
    CHANGE_ROUND = "round.change"
    """Create, change, delete, phase, import and replace: settings of the whole round."""
    FORCE_REPLACE_ROUND = "round.force-replace"
    """Replace the content of a round whose schedule is published, taking back what proposers were told."""
    EXPORT_ROUND = "round.export"
    """The round file, with the grades and priorities of the proposals the caller may see in confidence."""
    READ_RANKING = "round.ranking"
    CHANGE_FAIR_RETURN = "fair-return.change"
    """Create, change or delete a consortium's fair-return policy and attach rounds to it (`facilities`: of its
    rounds, and of the round attached); everyone signed in reads policies, as the catalogue."""
    READ_USAGE = "round.usage"
    """A round's usage report: who got the time, by country, group, facility, instrument or type."""
    # Proposals.
    SUBMIT_PROPOSAL = "proposal.submit"
    READ_PROPOSAL = "proposal.read"
    CHANGE_PROPOSAL = "proposal.change"
    """Rewrite and withdraw: the owner's."""
    READ_CONFIDENTIAL = "proposal.confidential"
    """Grades, priority, reasons and the owner's account: panel results."""
    JUDGE_PROPOSAL = "proposal.judge"
    """Feasibility, admissibility, confirming declared facts, assigning reviewers, voiding reviews."""
    REVIEW_PROPOSAL = "proposal.review"
    # Schedules and solves.
    READ_SCHEDULE = "schedule.read"
    """Versions, diffs and exports with priorities and reasons."""
    CHANGE_SCHEDULE = "schedule.change"
    """Moves and pins, on the facilities of the instruments they touch (`asks_for`)."""
    PUBLISH_SCHEDULE = "schedule.publish"
    """Publish a draft: the round's coordinators; in a shared round, once every facility it changes signed off."""
    SIGN_OFF_SCHEDULE = "schedule.sign-off"
    """Sign off a draft's changes, or withdraw the sign-off: coordinators of the facilities it changes (`asks_for`)."""
    RUN_SOLVE = "solve.run"
    """Start solves of a round, list them and read its nightly history."""
    WATCH_SOLVE = "solve.watch"
    """One run by id: watch, cancel, fetch its files; to anyone but the round's coordinators it does not exist."""
    # Accounts.
    MANAGE_USERS = "users.manage"
    """Create, list, read, change, reset passwords; read the audit log."""
    READ_OWN_ACCOUNT = "account.own"
    CONFIRM_ACCOUNT_FACTS = "account.confirm-facts"
    """Set and confirm a user's country and institution: admins, and coordinators of the rounds the user is in."""


Rule = Callable[[Claims, Facts], Answer]
Condition = Callable[[Claims, Facts], bool]


def _allow_everyone(_: Claims, __: Facts) -> Answer:
    return Answer.ALLOW


def _anyone_who_sees_it(_: Claims, __: Facts) -> bool:
    return True


def _admins(actor: Claims, _: Facts) -> Answer:
    return Answer.ALLOW if actor.is_admin else Answer.FORBID


def _coordinators_of_any(actor: Claims, facts: Facts) -> Answer:
    return Answer.ALLOW if coordinates_any(actor, facts.facilities) else Answer.FORBID


def _coordinators_of_all(actor: Claims, facts: Facts) -> Answer:
    return Answer.ALLOW if coordinates_all(actor, facts.facilities) else Answer.FORBID


def _coordinators_of_every_one(actor: Claims, facts: Facts) -> Answer:
    """Coordinators of every one of the facilities (of none: any coordinator), and admins."""
    allowed = actor.is_admin or (actor.role == "coordinator" and facts.facilities <= actor.facilities)
    return Answer.ALLOW if allowed else Answer.FORBID


def _round_coordinators_hidden(actor: Claims, facts: Facts) -> Answer:
    """What only a round's coordinators know of: to anyone else it does not exist."""
    return Answer.ALLOW if coordinates_any(actor, facts.facilities) else Answer.HIDE


def _proposers(actor: Claims, _: Facts) -> Answer:
    return Answer.ALLOW if actor.role in ("proposer", "admin") else Answer.FORBID


def _sees_proposal(actor: Claims, facts: Facts) -> bool:
    return (
        coordinates_any(actor, facts.facilities)
        or facts.owner_id == actor.user_id
        or (actor.role == "reviewer" and actor.user_id in facts.reviewers)
    )


def _on_proposal(allowed: Condition) -> Rule:
    """A rule on a proposal: to whoever may not see it, it does not exist; whoever sees it may act when `allowed`."""

    def rule(actor: Claims, facts: Facts) -> Answer:
        if not _sees_proposal(actor, facts):
            return Answer.HIDE
        return Answer.ALLOW if allowed(actor, facts) else Answer.FORBID

    return rule


def _owner(actor: Claims, facts: Facts) -> bool:
    return actor.is_admin or facts.owner_id == actor.user_id


def _coordinates_asked_for(actor: Claims, facts: Facts) -> bool:
    """Admins, and the coordinators of the facilities a proposal asks for (other round coordinators only read it)."""
    return coordinates_any(actor, facts.asks_for)


def _assigned_reviewer(actor: Claims, facts: Facts) -> bool:
    return actor.role == "reviewer" and actor.user_id in facts.reviewers


def _on_schedule(allowed: Condition) -> Rule:
    """A rule on a schedule version, for the round's coordinators when `allowed`: to anyone else a published
    version is known to exist (proposers see their own slots elsewhere) and a draft is hidden."""

    def rule(actor: Claims, facts: Facts) -> Answer:
        if not coordinates_any(actor, facts.facilities):
            return Answer.HIDE if facts.draft else Answer.FORBID
        return Answer.ALLOW if allowed(actor, facts) else Answer.FORBID

    return rule


def _coordinates_everything_changed(actor: Claims, facts: Facts) -> bool:
    """A version is changed only where every facility it touches (`asks_for`) is the coordinator's."""
    return actor.is_admin or facts.asks_for <= actor.facilities


def _coordinates_something_changed(actor: Claims, facts: Facts) -> bool:
    """A facility's approval: its coordinators sign for it; admins publish without sign-offs and give none."""
    return actor.role == "coordinator" and not actor.facilities.isdisjoint(facts.asks_for)


def _confirm_account_facts(actor: Claims, facts: Facts) -> Answer:
    """`facilities`: of the rounds the user has proposals in; to other coordinators the account does not exist."""
    if coordinates_any(actor, facts.facilities):
        return Answer.ALLOW
    return Answer.HIDE if actor.role == "coordinator" else Answer.FORBID


def _own_account(actor: Claims, facts: Facts) -> Answer:
    return Answer.ALLOW if actor.is_admin or facts.subject_id == actor.user_id else Answer.HIDE


POLICY: dict[Operation, Rule] = {
    Operation.READ_CATALOGUE: _allow_everyone,
    Operation.CREATE_FACILITY: _admins,
    Operation.CHANGE_FACILITY: _coordinators_of_any,
    Operation.DELETE_FACILITY: _admins,
    Operation.CHANGE_FACILITY_ITEM: _coordinators_of_any,
    Operation.READ_ROUND: _allow_everyone,
    Operation.CHANGE_ROUND: _coordinators_of_all,
    Operation.FORCE_REPLACE_ROUND: _admins,
    Operation.EXPORT_ROUND: _coordinators_of_any,
    Operation.READ_RANKING: _coordinators_of_any,
    Operation.CHANGE_FAIR_RETURN: _coordinators_of_every_one,
    Operation.READ_USAGE: _coordinators_of_any,
    Operation.SUBMIT_PROPOSAL: _proposers,
    Operation.READ_PROPOSAL: _on_proposal(_anyone_who_sees_it),
    Operation.CHANGE_PROPOSAL: _on_proposal(_owner),
    Operation.READ_CONFIDENTIAL: _on_proposal(_coordinates_asked_for),
    Operation.JUDGE_PROPOSAL: _on_proposal(_coordinates_asked_for),
    Operation.REVIEW_PROPOSAL: _on_proposal(_assigned_reviewer),
    Operation.READ_SCHEDULE: _on_schedule(_anyone_who_sees_it),
    Operation.CHANGE_SCHEDULE: _on_schedule(_coordinates_everything_changed),
    Operation.PUBLISH_SCHEDULE: _on_schedule(_anyone_who_sees_it),
    Operation.SIGN_OFF_SCHEDULE: _on_schedule(_coordinates_something_changed),
    Operation.RUN_SOLVE: _coordinators_of_any,
    Operation.WATCH_SOLVE: _round_coordinators_hidden,
    Operation.MANAGE_USERS: _admins,
    Operation.READ_OWN_ACCOUNT: _own_account,
    Operation.CONFIRM_ACCOUNT_FACTS: _confirm_account_facts,
}
"""The whole policy: one rule per operation."""


def decide(actor: Claims, operation: Operation, facts: Facts = Facts()) -> Answer:
    return POLICY[operation](actor, facts)


def may(actor: Claims, operation: Operation, facts: Facts = Facts()) -> bool:
    return decide(actor, operation, facts) is Answer.ALLOW


def require(actor: Claims, operation: Operation, facts: Facts, what: str) -> None:
    """Raise what the caller gets when the policy says no: NotFound naming `what`, or Forbidden."""
    answer = decide(actor, operation, facts)
    if answer is Answer.HIDE:
        raise NotFound(f"no {what}")
    if answer is Answer.FORBID:
        raise Forbidden(f"you may not do {operation.value} on {what}")


def visible_to(role: Role, user_id: int | BindParameter[int]) -> ColumnElement[bool]:
    """`READ_PROPOSAL` as one SQL condition on the proposal row, for lists and the slots hot path.

    The same rule as `_sees_proposal` (a test holds the two together): admins see all; anyone
    their own; a reviewer those assigned to them; a coordinator those of rounds of their facilities.
    `user_id` may be a bound parameter, so that a statement per role is built once.
    """
    if role == "admin":
        return true()
    own = col(Proposal.owner_id) == user_id
    if role == "proposer":
        return own
    if role == "reviewer":
        assigned = exists().where(
            col(ReviewAssignment.proposal_id) == col(Proposal.id), col(ReviewAssignment.user_id) == user_id
        )
        return or_(own, assigned)
    coordinated = exists().where(
        col(RoundFacility.round_id) == col(Proposal.round_id),
        col(CoordinatorFacility.facility_id) == col(RoundFacility.facility_id),
        col(CoordinatorFacility.user_id) == user_id,
    )
    return or_(own, coordinated)
