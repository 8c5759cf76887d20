"""Russian and English: every message translated, no template text outside gettext, the language chosen by the
switch or `Accept-Language`, dates and numbers in the locale's format, and the API's problem titles in both."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from http import HTTPStatus
from pathlib import Path
from typing import get_args

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from httpx import Response
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from api.explanations import explained
from api.i18n import LANGUAGE_COOKIE, LOCALES, PROBLEM_TITLES, catalogue_path, negotiated, sign_in_locked
from api.web import HERE as WEB
from api.web.i18n import WORDS, plural_forms
from scheduler.accounts.schemas import Role
from scheduler.db.tables import Round
from scheduler.demo import COORDINATOR, PROPOSER, Demo, DemoAccount
from scheduler.jobs.kinds import SOLVE
from scheduler.jobs.queue import RunState
from scheduler.nightly.repair import NIGHTLY_REPAIR
from scheduler.roundfile.contract import UnallocatedReason
from scheduler.rounds.schemas import Phase
from scheduler.schedules.calendar import ProposalState
from scheduler.schedules.confidential import PUBLIC_DETAIL
from scheduler.schedules.notices import NoticeKind
from scheduler.schedules.versions import VersionSource, VersionStatus
from solver.solution import Status
from tests.api.test_serve import demo_database  # noqa: F401 (a fixture: the demo set up once)
from tests.api_helpers import Client, api_client, login
from tests.web.test_dashboard import World, _world, from_the_page, sign_in

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((WEB / "templates").glob("*.html"))
OWN_WORDS = {"beamtime", "English", "CSV", "XLSX"}
"""The product's name, the switch's name of each language in that language, and file formats' names."""
RUSSIAN = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}


def _cyrillic(text: str) -> bool:
    return re.search("[а-яА-Я]", text) is not None


Sessions = async_sessionmaker[AsyncSession]


def _extracted() -> dict[str, tuple[str, ...]]:
    """Every message the API and its dashboard mark, by Babel's extractors under the project's babel.cfg."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    found: dict[str, tuple[str, ...]] = {}
    for _filename, _line, message, _comments, _context in extract_from_dir(ROOT, method_map, options_map):
        ids = (message,) if isinstance(message, str) else tuple(m for m in message if m)
        found[ids[0]] = ids
    return found


def _forms(message: Message) -> tuple[str, ...]:
    """A message's translation, each plural form apart."""
    forms = message.string
    return tuple(forms) if isinstance(forms, tuple | list) else (forms or "",)


def _ids(message: Message) -> tuple[str, ...]:
    return tuple(message.id) if isinstance(message.id, tuple | list) else (message.id,)


def _catalogue(locale: str) -> Catalog:
    with catalogue_path(locale).open("rb") as source:
        return read_po(source, locale=locale)


def test_every_marked_message_has_a_russian_translation() -> None:
    extracted = _extracted()
    assert len(extracted) > 100, "the extraction found the templates and the web layer"
    for locale in LOCALES:
        catalogue = _catalogue(locale)
        missing = sorted(set(extracted) - {_ids(message)[0] for message in catalogue if message.id})
        assert not missing, f"not in the {locale} catalogue (pybabel update, see babel.cfg): {missing}"
    russian = _catalogue("ru")
    untranslated = [
        message.id
        for message in russian
        if message.id
        and (message.fuzzy or not all(message.string if isinstance(message.string, tuple) else [message.string]))
    ]
    assert not untranslated, f"no Russian for: {untranslated}"
    wrong = [(message.id, [str(error) for error in errors]) for message, errors in russian.check() if errors]
    assert not wrong, f"placeholders or plural forms that differ from the English: {wrong}"


class _Text(HTMLParser):
    """The text a reader meets: text nodes and the attributes read aloud or shown (labels, titles, placeholders)."""

    SHOWN_ATTRIBUTES = ("aria-label", "aria-description", "title", "placeholder", "alt", "data-label")

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        self.found += [value for name, value in attrs if name in self.SHOWN_ATTRIBUTES and value]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.found.append(data)


def reader_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return [text.strip() for text in parser.found if text.strip()]


def _outside_gettext(template: str) -> str:
    """The template with its translated text and Jinja's expressions and statements taken out."""
    template = re.sub(r"{%-?\s*trans\b.*?{%-?\s*endtrans\s*-?%}", "", template, flags=re.DOTALL)
    return re.sub(r"{#.*?#}|{{.*?}}|{%.*?%}", "", template, flags=re.DOTALL)


@pytest.mark.parametrize("template", TEMPLATES, ids=[path.name for path in TEMPLATES])
def test_no_template_text_is_outside_gettext(template: Path) -> None:
    words = [
        text
        for text in reader_text(_outside_gettext(template.read_text()))
        if set(re.findall(r"[A-Za-z]{2,}", text)) - OWN_WORDS
    ]
    assert not words, f"{template.name}: wrap in {{% trans %}} or _(): {words}"


def test_every_value_a_page_shows_as_a_word_has_one() -> None:
    shown = [ProposalState, UnallocatedReason, NoticeKind, Phase, VersionStatus, VersionSource, RunState, Status, Role]
    values = {value for enumeration in shown for value in get_args(enumeration)} | {SOLVE.name, NIGHTLY_REPAIR.name}
    assert values - set(WORDS) == set()


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en-GB,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE, en;q=0.2, RU;q=0.5", "ru"),
        ("ru;q=0, en;q=0.1", "en"),
        ("fr, de", "en"),
        ("*", "en"),
        ("", "en"),
        ("ru;q=nonsense", "en"),
    ],
)
def test_the_language_is_the_best_match_of_accept_language(header: str, locale: str) -> None:
    assert negotiated(header) == locale


def test_problem_titles_are_http_phrases_in_english() -> None:
    assert all(title == HTTPStatus(status).phrase for status, title in PROBLEM_TITLES.items())


async def test_problem_titles_speak_the_language_asked_for(database_url: str) -> None:
    async with api_client(database_url) as client:
        english = await client.get("/rounds/999999")
        russian = await client.get("/rounds/999999", headers=RUSSIAN)
        unsigned = await client.post("/rounds/import", json={}, headers=RUSSIAN)
    assert english.status_code == russian.status_code == HTTPStatus.UNAUTHORIZED
    assert (english.json()["title"], english.headers["content-language"]) == ("Unauthorized", "en")
    assert (russian.json()["title"], russian.headers["content-language"]) == ("Требуется вход", "ru")
    assert russian.json()["detail"] == english.json()["detail"], "details and field messages stay as they are"
    assert unsigned.json()["title"] == "Требуется вход"


def english_sentences() -> set[str]:
    """The catalogue's English of two words or more, one of them longer than three letters (not "of the", which
    a proposal's title may say), as a page shows it (placeholders left out)."""
    english = _catalogue("en")
    ids = [
        part
        for message in english
        if message.id
        for part in ([message.id] if isinstance(message.id, str) else message.id)
    ]
    pieces = {piece.strip(" ,.:;()[]–") for text in ids for piece in re.split(r"%\(\w+\)s|\{[\w:]+\}|<[^>]+>", text)}
    return {piece for piece in pieces if " " in piece and re.search(r"[A-Za-z]{4}", piece)}


def script_strings(html: str) -> list[str]:
    """Every string of the page's JSON for its scripts (the payload the timeline and lists are drawn from, the
    scripts' words): what the scripts show."""
    found: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for text in re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, flags=re.DOTALL):
        walk(json.loads(text))
    return found


def assert_all_russian(html: str, page: str) -> None:
    assert '<html lang="ru">' in html, page
    text = " ".join([*reader_text(html), *script_strings(html)])
    left = sorted(sentence for sentence in english_sentences() if sentence in text)
    assert not left, f"{page} in Russian still says: {left}"


def says_in_russian(response: Response, status: int, words: str) -> None:
    """The page answers with this status, all in Russian, and says these words."""
    assert response.status_code == status, response.text
    assert_all_russian(response.text, str(response.url))
    assert words in response.text


async def test_the_pages_in_russian_say_nothing_in_english(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        client.headers.update(RUSSIAN)
        says_in_russian(await client.get("/ui/login"), HTTPStatus.OK, "Войти")
        wrong = await client.post(
            "/ui/login", data={"email": world.proposer, "password": "wrong"}, headers=await from_the_page(client)
        )
        says_in_russian(wrong, HTTPStatus.UNAUTHORIZED, "Неверный адрес эл. почты или пароль.")

        await sign_in(client, world.proposer)
        mine = await client.get("/ui/me")
        says_in_russian(mine, HTTPStatus.OK, "чт 04 февр. 2027, 12:00")  # P-003-a's start, Thursday 4 February
        assert "в расписании" in mine.text, "a status as a Russian word"
        says_in_russian(await client.get(f"/ui/rounds/{world.round_id}"), HTTPStatus.NOT_FOUND, "Не найдено")

        await sign_in(client, world.coordinator)
        rounds = await client.get("/ui/rounds")
        says_in_russian(rounds, HTTPStatus.OK, "Раунды")
        assert re.search(r"\d+\sфевр\.\s2027\sг\.", rounds.text), "the round's period in Russian dates"


async def test_the_round_pages_in_russian_say_nothing_in_english(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with sessions.begin() as session:
        closes = datetime(2027, 1, 15, 5, 0, tzinfo=UTC)  # noon in Novosibirsk, the round's first facility's zone
        await session.execute(update(Round).where(col(Round.id) == world.round_id).values(call_closes=closes))
    round_page = f"/ui/rounds/{world.round_id}"
    async with api_client(database_url) as client:
        client.headers.update(RUSSIAN)
        await sign_in(client, world.coordinator)
        says_in_russian(
            await client.get(round_page), HTTPStatus.OK, "Приём заявок закрывается пт 15 янв. 2027, 12:00 +07"
        )
        compared = await client.get(f"{round_page}/compare?before={world.published}&after={world.published}")
        says_in_russian(compared, HTTPStatus.OK, "Обе версии распределяют время одинаково.")
        staff = await client.get(f"{round_page}/instruments?version={world.published}")
        says_in_russian(staff, HTTPStatus.OK, "Расписания станций, версия")


async def _switch(client: Client, form: dict[str, str]) -> Response:
    return await client.post("/ui/language", data=form, headers=await from_the_page(client), follow_redirects=False)


async def test_the_switch_in_the_header_keeps_the_language(database_url: str, sessions: Sessions) -> None:
    world: World = await _world(sessions)
    async with api_client(database_url) as client:
        await sign_in(client, world.proposer)
        assert '<html lang="en-GB">' in (await client.get("/ui/me")).text
        switched = await _switch(client, {"language": "ru", "next": "/ui/me"})
        assert switched.status_code == HTTPStatus.SEE_OTHER
        assert switched.headers["location"] == "/ui/me"
        assert client.cookies[LANGUAGE_COOKIE] == "ru"
        assert_all_russian((await client.get("/ui/me", headers={"Accept-Language": "en"})).text, "after the switch")

        elsewhere = await _switch(client, {"language": "en", "next": "https://example.org/"})
        assert elsewhere.headers["location"] == "/ui/", "the switch leads only to a page of the dashboard"
        assert '<html lang="en-GB">' in (await client.get("/ui/me", headers=RUSSIAN)).text

        unknown = await _switch(client, {"language": "de"})
        assert unknown.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
        assert "language" in unknown.text and "en, ru" in unknown.text


async def _sign_in_as(client: Client, account: DemoAccount) -> None:
    client.cookies.clear()
    signed_in = await client.post(
        "/ui/login",
        data={"email": account.email, "password": account.password, "next": "/ui/"},
        headers=await from_the_page(client),
        follow_redirects=False,
    )
    assert signed_in.status_code == HTTPStatus.SEE_OTHER, signed_in.text


async def test_the_demo_rounds_pages_in_russian_say_nothing_in_english(
    demo_database: tuple[str, Demo],  # noqa: F811 (the fixture imported above)
) -> None:
    """The solved demo round: the engine's reasons, the solve's version note, the quotas' labels, the deadlines,
    the scripts' payload and words, and the proposer's reasons, all in Russian."""
    url, demo = demo_database
    round_page = f"/ui/rounds/{demo.round_id}"
    async with api_client(url) as client:
        client.headers.update(RUSSIAN)
        await _sign_in_as(client, COORDINATOR)
        shown = await client.get(round_page)
        says_in_russian(shown, HTTPStatus.OK, "расчёт")  # the version's note: "solve 1 of input revision …"
        drawn = script_strings(shown.text)
        assert any("блоки в его сроки" in text for text in drawn), "the engine's reasons, told in Russian"
        assert {"февраль 2027", "окно обслуживания: detector replacement", "Прочие зарубежные"} <= set(drawn), (
            "the months, a window's kind (its reason is the round file's) and the legend's labels the script shows"
        )
        version = demo.schedule_version_id
        compared = await client.get(f"{round_page}/compare?before={version}&after={version}")
        says_in_russian(compared, HTTPStatus.OK, "Обе версии распределяют время одинаково.")
        says_in_russian(await client.get(f"{round_page}/usage"), HTTPStatus.OK, "заявк")
        says_in_russian(await client.get(f"{round_page}/instruments"), HTTPStatus.OK, "Расписания станций")
        missing = await client.get(f"{round_page}?version=999999")
        says_in_russian(missing, HTTPStatus.NOT_FOUND, "в раунде нет версии расписания 999999")

        await _sign_in_as(client, PROPOSER)
        mine = await client.get("/ui/me")
        says_in_russian(mine, HTTPStatus.OK, "время не выделено")
        told = [explained(detail, "ru") for detail in PUBLIC_DETAIL.values()]
        assert any(text in reader_text(mine.text) for text in told), "why a request got no time, in Russian"


def test_the_lockout_says_the_minutes_in_the_locales_plural() -> None:
    assert sign_in_locked("en", 60).endswith("try again in 1 minute.")
    assert sign_in_locked("en", 61).endswith("try again in 2 minutes.")
    assert [sign_in_locked("ru", 60 * n).rsplit(" ", 2)[-2:] for n in (1, 3, 5, 21)] == [
        ["1", "минуту."],
        ["3", "минуты."],
        ["5", "минут."],
        ["21", "минуту."],
    ]


def test_every_count_a_scripts_sentence_names_has_its_plural_forms() -> None:
    counts = {
        count
        for locale in LOCALES
        for message in _catalogue(locale)
        if message.id
        for text in (*_ids(message), *_forms(message))
        for count in re.findall(r"\{\w+:(\w+)\}", text)
    }
    assert counts, "the round pages' scripts write counts with nouns"
    assert plural_forms("ru")["shifts"] == {"one": "{n} смена", "few": "{n} смены", "many": "{n} смен"}
    for locale in LOCALES:
        forms = plural_forms(locale)
        assert counts <= set(forms), f"{locale}: no plural forms for {counts - set(forms)}"


async def test_a_refused_action_of_the_round_page_says_why_in_the_pages_language(
    database_url: str, sessions: Sessions
) -> None:
    """The round page's script shows a refusal's detail: the dashboard's copy of the API answers it in Russian,
    the API itself as it is."""
    world = await _world(sessions)
    pin = f"/schedules/{world.published}/allocations/P-001-a/pin"
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        russian = await client.post(f"/ui{pin}", headers={**RUSSIAN, **await from_the_page(client)})
        english = await client.post(f"/ui{pin}", headers=await from_the_page(client))
    assert russian.status_code == english.status_code == HTTPStatus.CONFLICT
    told = "версия 1 в состоянии «опубликовано»; закреплять и откреплять можно только в черновиках"
    assert russian.json()["detail"] == told, russian.json()
    assert english.json()["detail"] == "version 1 is published; only drafts can be pinned or unpinned"


async def test_the_apis_problems_are_in_the_language_asked_for_and_their_machine_fields_in_none(
    database_url: str, sessions: Sessions
) -> None:
    """A bearer client that asks for Russian gets the refusal's detail and each bad field's message in Russian, the
    same status, paths and rule numbers; a client that asks for nothing gets the scheduler's English."""
    world = await _world(sessions)
    pin = f"/schedules/{world.published}/allocations/P-001-a/pin"
    move = {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 100000, "shifts": 4}
    async with api_client(database_url) as client:
        bearer = await login(client, world.coordinator)
        russian = await client.post(pin, headers={**bearer, **RUSSIAN})
        english = await client.post(pin, headers=bearer)
        bad_russian = await client.post(f"/schedules/{world.published}/moves", json=move, headers={**bearer, **RUSSIAN})
        bad_english = await client.post(f"/schedules/{world.published}/moves", json=move, headers=bearer)
    assert russian.status_code == english.status_code == HTTPStatus.CONFLICT
    assert russian.headers["content-language"] == "ru"
    assert (
        russian.json()["detail"]
        == "версия 1 в состоянии «опубликовано»; закреплять и откреплять можно только в черновиках"
    )
    assert english.json()["detail"] == "version 1 is published; only drafts can be pinned or unpinned"
    assert bad_russian.status_code == bad_english.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, bad_english.text
    russian_errors, english_errors = bad_russian.json()["errors"], bad_english.json()["errors"]
    assert [error["path"] for error in russian_errors] == [error["path"] for error in english_errors]
    assert [error.get("rule") for error in russian_errors] == [error.get("rule") for error in english_errors]
    assert all(_cyrillic(error["message"]) for error in russian_errors), russian_errors
    assert not any(_cyrillic(error["message"]) for error in english_errors), english_errors
