"""Who a user is, in the shapes the API and the services exchange: roles, claims, user schemas.

Roles: an admin may do everything; a coordinator runs the rounds of the facilities
they are given; a reviewer grades the proposals assigned to them; a proposer
submits and follows their own proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from scheduler.fields import Country, Email, Input, Name, Output, Update

Role = Literal["admin", "coordinator", "reviewer", "proposer"]
ROLES: tuple[Role, ...] = get_args(Role)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("a password may not be blank or only spaces")
    return value


Password = Annotated[
    str,
    Field(min_length=8, max_length=1024, description="At least 8 characters, not only spaces, not the e-mail address."),
    AfterValidator(_not_blank),
]
"""A new password; that it is not the account's e-mail is checked where the e-mail is known
(`scheduler.accounts.passwords.refuse_email_as_password`)."""
FacilityCode = Annotated[str, Field(min_length=1, max_length=64)]


def as_role(value: str) -> Role:
    """A stored or claimed role, checked: the type system cannot see into the database."""
    for role in ROLES:
        if role == value:
            return role
    raise ValueError(f"unknown role {value!r}")


@dataclass(frozen=True, slots=True)
class Claims:
    """Who is asking: their account, role and the ids of the facilities they coordinate (empty for other roles)."""

    user_id: int
    role: Role
    facilities: frozenset[int] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Name
    role: Role
    password: Password
    facilities: list[FacilityCode] = Field(
        default=[], description="Codes of the facilities a coordinator coordinates; coordinators only."
    )


class AccountFacts(Output):
    """The facts about a person that quotas count on, as their account holds them."""

    country: str | None = Field(description="ISO 3166-1 alpha-2 code of the country the person works in.")
    institution: str | None
    country_confirmed: bool = Field(
        description="An admin or a coordinator set or confirmed `country`; until then it counts in no country's quota."
    )


class UserPublic(AccountFacts):
    id: int
    email: str
    name: str
    role: Role
    active: bool
    facilities: list[str] = Field(description="Codes of the facilities a coordinator coordinates.")
    created_at: datetime


class UserFacts(AccountFacts):
    """Whom the facts are of, for the coordinator who confirms them."""

    id: int
    email: str
    name: str


class Me(UserPublic):
    calendar_feed: bool = Field(
        description="Whether the user has made a calendar feed address (POST /me/calendar-url makes a new one; "
        "only its hash is kept, so the address itself is shown once, when it is made)."
    )


class UserUpdate(Update):
    """An admin's change of an account; each field changed ends the account's tokens."""

    active: bool | None = Field(default=None, description="False ends the account: its tokens stop working.")
    role: Role | None = None
    facilities: list[FacilityCode] | None = Field(
        default=None,
        description="Codes of the facilities a coordinator coordinates, replacing the current ones; "
        "a role other than coordinator drops them.",
    )


class OwnFactsUpdate(Update):
    """A user's own word on their country and institution: a new country is a claim until confirmed."""

    nullable: ClassVar[frozenset[str]] = frozenset({"country", "institution"})

    country: Country | None = None
    institution: Name | None = None


class FactsConfirmation(Input):
    """An admin's or a coordinator's word on a user's country (and institution): it counts in quotas from now."""

    country: Country
    institution: Name | None = Field(default=None, description="Absent: the user's stays as it is.")


class PasswordChange(Input):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Password


class PasswordReset(Input):
    password: Password
