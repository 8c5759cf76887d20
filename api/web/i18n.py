"""The dashboard in Russian and English: Jinja2's i18n extension over `api.i18n`'s catalogues, dates and numbers
in the page's locale (Babel), the words of the domain's enumerations, and the language switch in the page header.

Templates wrap their text in `{% trans %}…{% endtrans %}` or `_("…")`; `babel.cfg` extracts it with the web
layer's `N_` marks into `api/locale`, and a test fails on any message without a Russian translation. Every call
reads the language from the page's `request` (`api.i18n.locale_of`), so one environment serves both languages.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from litestar import Controller, Response, post
from litestar.datastructures import Cookie, State
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect

from api.explanations import localized
from api.i18n import DEFAULT_LOCALE, LANGUAGE_COOKIE, LOCALES, N_, TRANSLATIONS, locale_of
from api.limits import FORM_BODY
from api.web.pages import PAGE_ERRORS, SECURITY_HEADERS
from api.web.session import safe_next, secure_cookies
from scheduler.roundfile.checks import InputError, InputProblem

LANGUAGE_COOKIE_SECONDS = 400 * 24 * 3600
"""As long as browsers keep a cookie (RFC 6265bis caps it at 400 days)."""

WORDS: dict[str, str] = {
    # proposal status (scheduler.schedules.calendar.ProposalState)
    "submitted": N_("submitted"),
    "under_review": N_("under review"),
    "scored": N_("scored"),
    "scheduled": N_("scheduled"),
    "waitlisted": N_("waitlisted"),
    "not_scheduled": N_("not scheduled"),
    "withdrawn": N_("withdrawn"),
    # why a request got no time (scheduler.roundfile.contract.UnallocatedReason)
    "below_cutoff": N_("below the cut-off"),
    "not_feasible": N_("not feasible"),
    "capacity": N_("no free time"),
    "quota": N_("quota"),
    "window": N_("outside its window"),
    "link": N_("linked request"),
    "equipment": N_("equipment"),
    # a change to a slot (scheduler.schedules.notices.NoticeKind)
    "moved": N_("moved"),
    "resized": N_("resized"),
    "dropped": N_("dropped"),
    "added": N_("added"),
    # a round's phase (scheduler.rounds.schemas.Phase)
    "open": N_("open"),
    "review": N_("review"),
    "allocation": N_("allocation"),
    "published": N_("published"),
    "running": N_("running"),
    "closed": N_("closed"),
    # a schedule version (scheduler.schedules.versions.VersionStatus)
    "draft": N_("draft"),
    "superseded": N_("superseded"),
    # a solve run (scheduler.jobs.queue.RunState; "running" above)
    "queued": N_("queued"),
    "done": N_("done"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
    "skipped": N_("skipped"),
    # where a schedule version came from (scheduler.schedules.versions.VersionSource)
    "solve": N_("solve"),
    "import": N_("import"),
    "edit": N_("edit"),
    # a solve run's kind (scheduler.jobs.kinds.SOLVE, scheduler.nightly.repair.NIGHTLY_REPAIR)
    "manual": N_("manual"),
    "nightly": N_("nightly"),
    # what the solver proved (solver.solution.Status)
    "optimal": N_("optimal"),
    "feasible": N_("feasible"),
    "infeasible": N_("infeasible"),
    "unknown": N_("unknown"),
    # a role (scheduler.accounts.schemas.Role)
    "admin": N_("admin"),
    "coordinator": N_("coordinator"),
    "reviewer": N_("reviewer"),
    "proposer": N_("proposer"),
}
"""The values of the domain's enumerations a page shows, as words (`{{ p.status | word }}`)."""

ERROR_PAGE_TEXTS = (
    N_("Not found"),
    N_("Not allowed"),
    N_("Not possible now"),
    N_("Bad input"),
    N_("Request refused"),
    N_("Something went wrong"),
    N_("An internal error; it has been logged."),
    N_("Wrong e-mail or password."),
)
"""The fixed titles and messages `api.web.pages` gives its error and login pages, translated where they are shown."""


LANGUAGE_TAGS = {"en": "en-GB", "ru": "ru"}
"""Each locale's tag for `<html lang>`, which the scripts' `Intl` formats follow too: the English is British."""


def page_locale(context: Context) -> str:
    request = context.get("request")
    return locale_of(request) if request is not None else DEFAULT_LOCALE


@pass_context
def _gettext(context: Context, message: str) -> str:
    return TRANSLATIONS[page_locale(context)].gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return TRANSLATIONS[page_locale(context)].ngettext(singular, plural, count)


@pass_context
def _when(context: Context, moment: datetime | None) -> str:
    """A time in the zone it carries (the facility's), as the locale writes a weekday, date and time."""
    if moment is None:
        return ""
    return format_datetime(moment, "EEE dd MMM y, HH:mm", locale=page_locale(context))


@pass_context
def _zoned(context: Context, moment: datetime | None) -> str:
    """With the zone's name or offset, for times not in the facility's own zone."""
    return "" if moment is None else f"{_when(context, moment)} {moment:%Z}"


@pass_context
def _date(context: Context, day: date | None) -> str:
    return "" if day is None else format_date(day, "medium", locale=page_locale(context))


@pass_context
def _number(context: Context, value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(value, pattern, locale=page_locale(context))


@pass_context
def _percent(context: Context, value: float | None) -> str:
    return "–" if value is None else format_percent(value, "#,##0.0%", locale=page_locale(context))


@pass_context
def _word(context: Context, value: str) -> str:
    """An enumeration's value as a word of the page's language; an unknown value as it is, underscores spaced."""
    return _gettext(context, WORDS[value]) if value in WORDS else value.replace("_", " ")


@pass_context
def _explained(context: Context, text: str | None) -> str:
    """A sentence of the scheduler (a request's reason, a change's cause, a version's note) in the page's language."""
    return "" if text is None else localized(text, page_locale(context))


@pass_context
def _page_language(context: Context) -> str:
    return LANGUAGE_TAGS[page_locale(context)]


@pass_context
def _all_words(context: Context) -> dict[str, str]:
    """Every enumeration's words in the page's language, for a page's script (`{{ all_words() | tojson }}`)."""
    return {value: _gettext(context, message) for value, message in WORDS.items()}


def _counted(translations: Translations, n: int) -> dict[str, str]:
    """The counts the pages' scripts write beside a noun, as the catalogue writes them for `n` (`{n}`: the count)."""
    ngettext = translations.ngettext
    return {
        "shifts": ngettext("{n} shift", "{n} shifts", n),
        "blocks": ngettext("{n} block", "{n} blocks", n),
        "rankedProposals": ngettext("{n} ranked proposal", "{n} ranked proposals", n),
        "unallocatedRequests": ngettext("{n} unallocated request", "{n} unallocated requests", n),
    }


def plural_forms(locale: str) -> dict[str, dict[str, str]]:
    """Each count's words per plural category of the locale (CLDR: `one`, `few`, `many`, `other`), as the scripts'
    `Intl.PluralRules` names them; a category no whole number takes (Russian fractions) is left to the script."""
    rule = Locale.parse(locale).plural_form
    samples: dict[str, int] = {}
    for n in range(200):
        samples.setdefault(rule(n), n)
    forms: dict[str, dict[str, str]] = {}
    for category, n in samples.items():
        for key, text in _counted(TRANSLATIONS[locale], n).items():
            forms.setdefault(key, {})[category] = text
    return forms


@pass_context
def _plural_forms(context: Context) -> dict[str, dict[str, str]]:
    return plural_forms(page_locale(context))


def install(environment: Environment) -> None:
    """Jinja2's i18n extension with gettext of the page's language, and the locale-aware filters."""
    environment.add_extension("jinja2.ext.i18n")
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals.update(
        page_locale=pass_context(page_locale),
        page_language=_page_language,
        all_words=_all_words,
        plural_forms=_plural_forms,
    )
    environment.filters.update(
        when=_when, zoned=_zoned, date=_date, number=_number, percent=_percent, word=_word, explained=_explained
    )


class LanguageSwitch(Controller):
    """The switch in the page header: the language is kept in a cookie and the page is shown again."""

    path = "/ui"
    include_in_schema = False
    exception_handlers = PAGE_ERRORS
    response_headers = SECURITY_HEADERS

    @post(
        "/language",
        status_code=303,
        summary="Show the dashboard in English or Russian",
        request_max_body_size=FORM_BODY,
    )
    async def choose(
        self, data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)], state: State
    ) -> Response[Any]:
        language = data.get("language", "")
        if language not in LOCALES:
            raise InputError([InputProblem("language", f"one of {', '.join(LOCALES)}")])
        cookie = Cookie(
            key=LANGUAGE_COOKIE,
            value=language,
            path="/",
            max_age=LANGUAGE_COOKIE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(state.settings),
        )
        return Redirect(path=safe_next(data.get("next")), status_code=303, cookies=[cookie])
