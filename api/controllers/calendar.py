"""A user's slots as an iCalendar feed, in the language its address names (`?lang=ru`), English otherwise.

Calendar apps fetch the feed without `Accept-Language` or cookies: the address made on the Russian page (or by
POST /me/calendar-url asked in Russian) carries the language, and the events' summaries and descriptions, which
the scheduler writes in English, are told in it (`api.explanations`)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from litestar import Controller, Response, get, head
from litestar.params import PathParameter, QueryParameter

from api.explanations import localized
from api.i18n import DEFAULT_LOCALE, LOCALES
from api.params import Session
from scheduler.errors import NotFound
from scheduler.roundfile.checks import InputError, InputProblem
from scheduler.schedules import calendar
from scheduler.schedules.calendar import FEED_LANGUAGE

FeedName = Annotated[
    str, PathParameter(min_length=1, max_length=200, description="`<secret>.ics`, as POST /me/calendar-url gives it.")
]
FeedLanguage = Annotated[
    str | None,
    QueryParameter(
        name=FEED_LANGUAGE,
        max_length=8,
        description=f"The events' language: one of {', '.join(LOCALES)} ({DEFAULT_LOCALE} when left out), as the "
        "address from POST /me/calendar-url has it.",
    ),
]

CALENDAR_MEDIA_TYPE = "text/calendar"
"""Litestar adds `; charset=utf-8` to every text type itself."""


class CalendarController(Controller):
    """The feed answers GET and HEAD (calendar apps ask HEAD to see whether it changed) with the same headers."""

    tags = ("schedules",)

    @get(
        "/calendar/{feed:str}",
        summary="A user's slots in published schedules as an iCalendar feed",
        description="The address comes from POST /me/calendar-url and is its own credential: no token header. "
        "An unknown address is 404.",
        media_type=CALENDAR_MEDIA_TYPE,
    )
    async def feed(self, feed: FeedName, db_session: Session, lang: FeedLanguage = None) -> bytes:
        return await _feed(db_session, feed, lang)

    @head(
        "/calendar/{feed:str}",
        summary="The headers of a calendar feed, without the feed",
        description="Content-Type and Content-Length as GET answers them; 404 for an unknown address.",
        media_type=CALENDAR_MEDIA_TYPE,
    )
    async def feed_headers(self, feed: FeedName, db_session: Session, lang: FeedLanguage = None) -> Response[None]:
        body = await _feed(db_session, feed, lang)
        return Response(None, media_type=CALENDAR_MEDIA_TYPE, headers={"Content-Length": str(len(body))})


async def _feed(db_session: Session, feed: str, language: str | None) -> bytes:
    token = feed.removesuffix(".ics")
    if token == feed:
        raise NotFound("calendar feeds end in .ics")
    locale = language or DEFAULT_LOCALE
    if locale not in LOCALES:
        raise InputError([InputProblem(FEED_LANGUAGE, f"one of {', '.join(LOCALES)}")])
    return await calendar.calendar_feed(db_session, token, partial(localized, locale=locale))
