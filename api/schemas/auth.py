"""Signing in."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from scheduler.fields import Input, Output


class Login(Input):
    email: Annotated[str, Field(max_length=254)]
    password: Annotated[str, Field(max_length=1024)]


class Token(Output):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")
