"""Russian and English: the language of a request and the gettext catalogues of the API and its dashboard.

The facilities are Russian and their users come from many partner countries. A request is answered in the
language chosen with the dashboard's switch (a cookie: accounts have no column for it) or else the best match
of its `Accept-Language`, or else English. The catalogues are the `.po` files under `locale/`, compiled in
memory when this module loads: no build step, and no `.mo` file that can lag behind its `.po`.
"""

from __future__ import annotations

from functools import lru_cache
from http import HTTPStatus
from io import BytesIO
from pathlib import Path
from typing import Any

from babel import negotiate_locale, support
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from litestar.connection import ASGIConnection

LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
LANGUAGE_COOKIE = "beamtime_language"
"""Only a language: a cookie planted by another site could change nothing else, so it needs no `__Host-` name."""


def N_(message: str) -> str:  # noqa: N802 (gettext's name for the marker, which Babel's extractor knows)
    """Marks a message for the catalogue where it is defined; it is translated where it is shown."""
    return message


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _compiled(locale: str) -> support.Translations:
    with catalogue_path(locale).open("rb") as source:
        catalogue = read_po(source, locale=locale, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return support.Translations(compiled, domain=DOMAIN)


TRANSLATIONS: dict[str, support.Translations] = {locale: _compiled(locale) for locale in LOCALES}


@lru_cache(maxsize=256)
def negotiated(accept_language: str) -> str:
    """The best of our locales for an `Accept-Language` header (RFC 9110, 12.5.4): highest weight first,
    a regional tag (`ru-RU`) matching its language, `q=0` meaning "not this one". Browsers send few distinct
    headers; the cache is bounded all the same, as anyone can send any."""
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(accept_language.split(",")):
        tag, *parameters = (part.strip() for part in item.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if tag and weight > 0:
            weighted.append((-weight, position, tag.lower()))
    preferred = [tag for _, _, tag in sorted(weighted)]
    return negotiate_locale(preferred, LOCALES, sep="-") or DEFAULT_LOCALE


def locale_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The request's language: the dashboard's switch, else `Accept-Language`, else English."""
    chosen = connection.cookies.get(LANGUAGE_COOKIE)
    if chosen in LOCALES:
        return chosen
    return negotiated(connection.headers.get("accept-language", ""))


def translate(locale: str, message: str) -> str:
    return TRANSLATIONS[locale].gettext(message)


def sign_in_locked(locale: str, retry_after: int) -> str:
    """Why signing in is refused for now: the minutes to wait, rounded up, in the locale's plural form."""
    minutes = -(-retry_after // 60)
    return TRANSLATIONS[locale].ngettext(
        "Too many failed sign-ins for this e-mail address: try again in %(num)d minute.",
        "Too many failed sign-ins for this e-mail address: try again in %(num)d minutes.",
        minutes,
    ) % {"num": minutes}


PROBLEM_TITLES: dict[int, str] = {
    HTTPStatus.BAD_REQUEST: N_("Bad Request"),
    HTTPStatus.UNAUTHORIZED: N_("Unauthorized"),
    HTTPStatus.FORBIDDEN: N_("Forbidden"),
    HTTPStatus.NOT_FOUND: N_("Not Found"),
    HTTPStatus.METHOD_NOT_ALLOWED: N_("Method Not Allowed"),
    HTTPStatus.NOT_ACCEPTABLE: N_("Not Acceptable"),
    HTTPStatus.CONFLICT: N_("Conflict"),
    HTTPStatus.PRECONDITION_FAILED: N_("Precondition Failed"),
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: N_("Request Entity Too Large"),
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: N_("Unsupported Media Type"),
    HTTPStatus.UNPROCESSABLE_ENTITY: N_("Unprocessable Entity"),
    HTTPStatus.PRECONDITION_REQUIRED: N_("Precondition Required"),
    HTTPStatus.TOO_MANY_REQUESTS: N_("Too Many Requests"),
    HTTPStatus.INTERNAL_SERVER_ERROR: N_("Internal Server Error"),
    HTTPStatus.SERVICE_UNAVAILABLE: N_("Service Unavailable"),
}
"""The titles of the problems the API answers, in HTTP's own words (the English is the status's phrase)."""


def problem_title(status: int, locale: str) -> str:
    """The title of a problem in the request's language; a status not listed keeps HTTP's phrase."""
    if status in PROBLEM_TITLES:
        return translate(locale, PROBLEM_TITLES[status])
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return translate(locale, N_("Error"))
