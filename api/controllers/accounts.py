"""Signing in, the caller's own account, and user administration (admins)."""

from __future__ import annotations

from typing import Annotated

from advanced_alchemy.service import OffsetPagination
from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.exceptions import NotAuthorizedException
from litestar.params import JSONBody, QueryParameter

from api.auth import CHALLENGE, requires_role
from api.controllers import BEARER
from api.params import CurrentUser, Id, Page, Session
from api.schemas.auth import Login, Token
from scheduler.accounts import service as accounts
from scheduler.accounts.schemas import Me, Role, UserCreate, UserPublic
from scheduler.errors import NotFound


class AuthController(Controller):
    path = "/auth"
    tags = ("accounts",)

    @post("/login", status_code=200, summary="Exchange e-mail and password for a bearer token")
    async def login(self, data: JSONBody[Login], db_session: Session, state: State) -> Token:
        settings = state.settings
        token = await accounts.sign_in(db_session, data.email, data.password, settings)
        if token is None:
            raise NotAuthorizedException("wrong e-mail or password", headers=CHALLENGE)
        return Token(access_token=token, expires_in=settings.jwt_minutes * 60)


class MeController(Controller):
    path = "/me"
    tags = ("accounts",)
    security = BEARER

    @get(summary="The caller's account, with the secret of their calendar feed")
    async def me(self, db_session: Session, current_user: CurrentUser) -> Me:
        found = await accounts.me(db_session, current_user.user_id)
        if found is None:
            raise NotFound("your account no longer exists")
        return found


class UserController(Controller):
    path = "/users"
    tags = ("accounts",)
    security = BEARER
    guards = (requires_role("admin"),)

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
