"""Signing in, the caller's own account, and user administration (admins)."""

from __future__ import annotations

from typing import Annotated, Any

from advanced_alchemy.service import OffsetPagination
from litestar import Controller, Request, get, patch, post, put
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException, TooManyRequestsException
from litestar.params import JSONBody, QueryParameter

from api.auth import CHALLENGE
from api.controllers import BEARER, AdminsOnly, SignedIn, permits
from api.limits import FORM_BODY
from api.params import CurrentUser, Id, Page, Session
from api.schemas.auth import Login, Token
from scheduler.access import Operation
from scheduler.accounts import credentials
from scheduler.accounts import service as accounts
from scheduler.accounts.schemas import (
    FactsConfirmation,
    Me,
    OwnFactsUpdate,
    PasswordChange,
    PasswordReset,
    Role,
    UserCreate,
    UserFacts,
    UserPublic,
    UserUpdate,
)
from scheduler.errors import NotFound


class AuthController(Controller):
    path = "/auth"
    tags = ("accounts",)

    @post(
        "/login",
        status_code=200,
        summary="Exchange e-mail and password for a bearer token",
        request_max_body_size=FORM_BODY,
        description="After too many failed sign-ins on one e-mail address, every attempt on it answers 429 "
        "(even with the right password) until the time in `Retry-After` has passed.",
    )
    async def login(self, data: JSONBody[Login], request: Request[Any, Any, Any], state: State) -> Token:
        settings = state.settings
        try:
            token = await credentials.sign_in(state.sessions, data.email, data.password, client_of(request), settings)
        except credentials.SignInRefused:
            raise NotAuthorizedException("wrong e-mail or password", headers=CHALLENGE) from None
        except credentials.TooManyFailures as locked:
            raise account_locked(locked) from None
        return Token(access_token=token, expires_in=settings.jwt_minutes * 60)

    @post(
        "/logout",
        status_code=204,
        security=BEARER,
        summary="Sign out: every token of the caller's account ends, on every device",
    )
    async def logout(self, db_session: Session, current_user: CurrentUser, state: State) -> None:
        await credentials.sign_out(db_session, state.identities, current_user.user_id)


class MeController(SignedIn):
    path = "/me"
    tags = ("accounts",)

    @get(summary="The caller's account, with the secret of their calendar feed")
    async def me(self, db_session: Session, current_user: CurrentUser) -> Me:
        found = await accounts.me(db_session, current_user.user_id)
        if found is None:
            raise NotFound("your account no longer exists")
        return found

    @patch(
        summary="Propose the caller's own country and institution",
        description="A country changed here is a claim: it counts in no country's quota until an admin or a "
        "coordinator of a round the caller is in confirms it (`PUT /users/{user_id}/facts`).",
    )
    async def propose_facts(self, data: JSONBody[OwnFactsUpdate], db_session: Session, current_user: CurrentUser) -> Me:
        return await accounts.propose_own_facts(db_session, current_user.user_id, data)

    @post(
        "/password",
        status_code=200,
        summary="Change the caller's password: every other token of theirs ends, the answer is a new one",
    )
    async def change_password(
        self,
        data: JSONBody[PasswordChange],
        request: Request[Any, Any, Any],
        db_session: Session,
        current_user: CurrentUser,
        state: State,
    ) -> Token:
        settings = state.settings
        try:
            token = await credentials.change_password(
                db_session, state.sessions, state.identities, current_user.user_id, data, client_of(request), settings
            )
        except credentials.TooManyFailures as locked:
            raise account_locked(locked) from None
        return Token(access_token=token, expires_in=settings.jwt_minutes * 60)


class UserController(AdminsOnly):
    path = "/users"
    tags = ("accounts",)

    @post(summary="Create a user (admins)")
    async def create(self, data: JSONBody[UserCreate], db_session: Session, current_user: CurrentUser) -> UserPublic:
        return await accounts.create_user(
            db_session,
            data.email,
            data.name,
            data.role,
            data.password,
            data.facilities,
            actor_id=current_user.user_id,
        )

    @get(summary="List users, oldest first (admins)")
    async def list_users(
        self, db_session: Session, page: Page, role: Annotated[Role | None, QueryParameter()] = None
    ) -> OffsetPagination[UserPublic]:
        return await accounts.list_users(db_session, page, role=role)

    @get("/{user_id:int}", summary="One user (admins)")
    async def get_user(self, db_session: Session, user_id: Id) -> UserPublic:
        found = await accounts.get_user(db_session, user_id)
        if found is None:
            raise NotFound(f"no user {user_id}")
        return found

    @patch("/{user_id:int}", summary="Change a user's active flag, role or facilities (admins): their tokens end")
    async def update_user(
        self, user_id: Id, data: JSONBody[UserUpdate], db_session: Session, current_user: CurrentUser, state: State
    ) -> UserPublic:
        return await accounts.update_user(db_session, state.identities, current_user, user_id, data)

    @post("/{user_id:int}/password", status_code=204, summary="Set a user's password (admins): their tokens end")
    async def reset_password(
        self, user_id: Id, data: JSONBody[PasswordReset], db_session: Session, current_user: CurrentUser, state: State
    ) -> None:
        await credentials.reset_password(db_session, state.identities, current_user, user_id, data)


class UserFactsController(SignedIn):
    path = "/users/{user_id:int}/facts"
    tags = ("accounts",)
    guards = (permits(Operation.CONFIRM_ACCOUNT_FACTS),)

    @put(
        summary="Set and confirm a user's country and institution (admins, coordinators of the user's rounds)",
        description="The country quotas count a person's time in is their account's, once confirmed here by an "
        "admin or a coordinator of a facility in a round where the user owns a proposal or is named by e-mail. "
        "Audited, before -> after.",
    )
    async def confirm_facts(
        self, user_id: Id, data: JSONBody[FactsConfirmation], db_session: Session, current_user: CurrentUser
    ) -> UserFacts:
        return await accounts.confirm_facts(db_session, current_user, user_id, data)


def client_of(request: Request[Any, Any, Any]) -> str:
    """The address a sign-in came from, for the audit log."""
    return request.client.host if request.client else "unknown"


def account_locked(locked: credentials.TooManyFailures) -> TooManyRequestsException:
    """429 with the seconds to wait: the problem-details handler copies `RateLimit-Reset` to `Retry-After`."""
    return TooManyRequestsException(str(locked), headers={"RateLimit-Reset": str(locked.retry_after)})
