"""The scheduler's messages a user reads besides its reasons, in Russian: every rule a move or a schedule breaks,
every error a solve run ends with, every reason a proposal is left out of the ranking, and the calendar feed's
events; each as the page, the drag's verdict, the CSV lists and the feed give them over HTTP.

The messages are found where they are written (the referee's `Violation`s, a move's own checks, a run's `error`,
a proposal's `excluded_detail`), their figures filled in: a message added there in English only fails here."""

from __future__ import annotations

import ast
import csv
import io
import itertools
import re
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.explanations import explained
from scheduler.db.tables import SolveRun
from scheduler.demo import COORDINATOR, Demo
from scheduler.jobs.worker import STOPPED_BECAUSE
from scheduler.roundfile.validate import Violation
from scheduler.schedules.service import MoveRejectedError, StaleDraftError
from tests.api.test_serve import demo_database  # noqa: F401 (a fixture: the demo set up once)
from tests.api_helpers import api_client, login
from tests.web.test_dashboard import _world, from_the_page, sign_in
from tests.web.test_i18n import RUSSIAN, _sign_in_as

ROOT = Path(__file__).resolve().parents[2]
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
ENGLISH = re.compile(r"\b[A-Za-z]{3,} [A-Za-z]{2,}\b")
"""Two English words in a row: what a name (a request, instrument, quota or file path) never is."""

Sessions = async_sessionmaker[AsyncSession]

BLOCK = "P-001-a on SKIF-1-1 [3, 7)"
FILLED: dict[str, tuple[str, ...]] = {
    # scheduler.roundfile.validate: the parts it composes itself, each way it composes them
    "p.label": (BLOCK,),
    "later.label": (BLOCK,),
    "earlier.label": ("P-004-a on SKIF-1-1 [0, 3)",),
    "kept.label": (BLOCK,),
    "pinned": (BLOCK,),
    "problem": ("overlaps", "starts 2 shifts after the end of"),
    "blocking[hit[0]]": ("maintenance window of facility SKIF", "machine_development window of instrument PIK-SANS"),
    "subject": ("quota foreign-min", "quota each-max for country DE"),
    "reason": ("gets no time by the scoring rules", "is not technically feasible"),
    "request.instruments": ("['SKIF-1-1', 'SKIF-1-2']",),
    "', '.join(request_ids)": ("P-001-a, P-003-b",),
    # scheduler.roundfile.checks
    "block": ("the pinned block [3, 7)",),
    "kind": ("facility", "instrument", "equipment", "quota", "proposal"),
    "window.kind": ("maintenance", "machine_development", "shutdown", "other"),
}
"""What the messages' composed parts are, by the expression that fills them in; any other part is a figure or a
name ("7")."""


def _filled(node: ast.expr) -> list[str]:
    """The message an expression writes, each way its composed parts may fill it."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) else []
    if isinstance(node, ast.JoinedStr):
        pieces = [
            [str(piece.value)]
            if isinstance(piece, ast.Constant)
            else list(FILLED.get(ast.unparse(piece.value), ("7",)))
            for piece in node.values
            if isinstance(piece, ast.Constant | ast.FormattedValue)
        ]
        return ["".join(parts) for parts in itertools.product(*pieces)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return [left + right for left in _filled(node.left) or ["7"] for right in _filled(node.right) or ["7"]]
    if isinstance(node, ast.IfExp):
        return _filled(node.body) + _filled(node.orelse)
    return []


def _messages(path: str, keywords: set[str], calls: dict[str, int], names: set[str], returns: set[str]) -> set[str]:
    """Every message a module writes: as a call's keyword (`error=`), a call's positional argument (`Violation`'s
    third), an assignment to a name (`detail = ...`) or a function's return."""
    tree = ast.parse((ROOT / path).read_text())
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            found += [keyword.value for keyword in node.keywords if keyword.arg in keywords]
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in calls and len(node.args) > calls[name]:
                found.append(node.args[calls[name]])
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in names:
                    found.append(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = zip(target.elts, node.value.elts, strict=False)
                    found += [value for name, value in pairs if isinstance(name, ast.Name) and name.id in names]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in returns:
            found += [inner.value for inner in ast.walk(node) if isinstance(inner, ast.Return) and inner.value]
        elif isinstance(node, ast.FunctionDef) and node.name == "_misplaced":
            found += [
                inner.elts[2] for inner in ast.walk(node) if isinstance(inner, ast.Tuple) and len(inner.elts) == 3
            ]
    return {message for node in found for message in _filled(node)}


def _rules() -> set[str]:
    """Every rule the referee and a move's own checks name, and the refusals that count them."""
    broken = [Violation(2, "$.allocations[0]", "x")]
    refusals = [MoveRejectedError(broken), MoveRejectedError(broken * 3), StaleDraftError(4, broken * 5)]
    return (
        _messages("scheduler/roundfile/validate.py", {"message"}, {"Violation": 2}, set(), set())
        | _messages("scheduler/schedules/service.py", set(), {}, set(), set())
        | {str(refusal) for refusal in refusals}
    )


def _solve_errors() -> set[str]:
    """Every error a solve run ends with (the worker's, the reaper's, a round changed under a solve, a night's), and
    why a night's repair was skipped."""
    return (
        _messages("scheduler/jobs/worker.py", {"error"}, {"_Outcome": 3}, {"error"}, {"_death"})
        | _messages("scheduler/jobs/queue.py", {"error"}, {}, set(), set())
        | _messages("scheduler/schedules/versions.py", set(), {"RoundChangedError": 0}, set(), set())
        | _messages("scheduler/nightly/decide.py", set(), {"_record": 5}, set(), {"_unchanged_since"})
        | {reason for reason in STOPPED_BECAUSE.values() if reason}
    )


def _left_out() -> set[str]:
    """Every reason a proposal is left out of the ranking's time: scoring's, a proposal set aside, an inadmissible
    one."""
    return (
        _messages("scheduler/roundfile/scoring.py", {"excluded_detail"}, {}, {"detail"}, set())
        | _messages("scheduler/roundfile/solving.py", {"excluded_detail"}, {}, set(), set())
        | _messages("scheduler/proposals/ranking.py", {"excluded_detail"}, {}, set(), set())
    )


def _findings() -> set[str]:
    """Everything the round checker finds wrong in a round file: a proposal is set aside for it, a round with it is
    not solved."""
    return _messages("scheduler/roundfile/checks.py", set(), {"_Finding": 1}, {"message"}, set())


def _told_in_russian(message: str) -> str:
    told = explained(message, "ru")
    assert told is not None, f"no Russian for: {message!r} (a form in api/explanations.py)"
    assert CYRILLIC.search(told), told
    assert not ENGLISH.search(told), f"{message!r} is told half in English: {told!r}"
    return told


@pytest.mark.parametrize(
    ("kind", "messages", "at_least"),
    [
        ("rules", _rules(), 30),
        ("solve errors", _solve_errors(), 10),
        ("left out", _left_out(), 5),
        ("round checker", _findings(), 30),
    ],
)
def test_every_message_of_its_kind_is_told_in_russian(kind: str, messages: set[str], at_least: int) -> None:
    assert len(messages) >= at_least, f"the {kind} were found where they are written: {sorted(messages)}"
    for message in sorted(messages):
        _told_in_russian(message)


def test_counts_are_in_russian_plural_forms() -> None:
    said = {n: explained(f"the move breaks {n} rule(s) of the round; nothing was saved", "ru") for n in (1, 3, 5, 21)}
    assert said == {
        1: "перенос нарушает 1 правило раунда; ничего не сохранено",
        3: "перенос нарушает 3 правила раунда; ничего не сохранено",
        5: "перенос нарушает 5 правил раунда; ничего не сохранено",
        21: "перенос нарушает 21 правило раунда; ничего не сохранено",
    }
    assert explained("request P-001-a gets 2 shifts, outside [3, 9]", "ru") == (
        "длина блока запроса P-001-a — 2 смены, вне допустимых пределов [3, 9]"
    )


def test_what_a_program_wrote_stays_as_it_was_inside_the_russian() -> None:
    told = explained("the solver failed: ValueError: no instrument SKIF-1-9", "ru")
    assert told == "сбой решателя: ValueError: no instrument SKIF-1-9"


def test_a_proposal_set_aside_has_each_finding_told_after_its_path() -> None:
    """The round checker's words are told, pydantic's among them, and a path stays."""
    reason = (
        "set aside: P-001.requests[0].min_shifts: min_shifts 5 is above shifts 3; P-001.links[0]: request 'P-002-a' "
        "is of proposal 'P-002'; a link joins its own requests; P-001.requests[1].shifts: Input should be greater "
        "than 0"
    )
    assert explained(reason, "ru") == (
        "отложена из-за ошибок в данных: P-001.requests[0].min_shifts: min_shifts 5 больше shifts 3; "
        "P-001.links[0]: запрос 'P-002-a' относится к заявке 'P-002'; связь соединяет только запросы своей заявки; "
        "P-001.requests[1].shifts: значение должно быть больше 0"
    )


async def test_a_drag_and_a_refused_move_name_the_rules_in_russian_on_the_page_and_as_written_in_the_api(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    onto_p004 = {"moves": [{"request": "P-001-a", "instrument": "SKIF-1-4", "start_shift": 0, "shifts": 9}]}
    check = f"/schedules/{world.published}/edits/check"
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        page = {**RUSSIAN, **await from_the_page(client)}
        verdict = await client.post(f"/ui{check}", json=onto_p004, headers=page)
        refused = await client.post(f"/ui/schedules/{world.published}/edits", json=onto_p004, headers=page)
        api = await client.post(check, json=onto_p004, headers={**RUSSIAN, **await login(client, world.coordinator)})

    assert verdict.status_code == HTTPStatus.OK, verdict.text
    assert verdict.json()["keeps_every_rule"] is False
    told = [error["message"] for error in verdict.json()["errors"]]
    assert "запрос P-001-a подан на станции ['SKIF-1-1'], а не на SKIF-1-4" in told, told
    for message in told:
        assert CYRILLIC.search(message) and not ENGLISH.search(message), message

    assert refused.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, refused.text
    assert refused.json()["detail"].startswith("перенос нарушает"), refused.json()
    assert [error["message"] for error in refused.json()["errors"]] == told
    assert [(e["rule"], e["path"]) for e in refused.json()["errors"]] == [
        (e["rule"], e["path"]) for e in verdict.json()["errors"]
    ], "the rule's number and path stay as they are"

    assert api.status_code == HTTPStatus.OK, api.text
    assert [error["rule"] for error in api.json()["errors"]] == [error["rule"] for error in verdict.json()["errors"]]
    said = [error["message"] for error in api.json()["errors"]]
    assert "request P-001-a asks for instruments ['SKIF-1-1'], not SKIF-1-4" in said, "the API's as the referee writes"


async def test_a_failed_solves_error_is_in_russian_on_the_page(database_url: str, sessions: Sessions) -> None:
    world = await _world(sessions)
    async with sessions.begin() as session:
        run = SolveRun(
            round_id=world.round_id,
            state="failed",
            kind="manual",
            settings={"time_limit": 5.0, "workers": 1, "seed": 0},
            error="the solver overran its time limit of 5 s and was stopped",
        )
        session.add(run)
        await session.flush()
        run_id = run.id
    async with api_client(database_url) as client:
        await sign_in(client, world.coordinator)
        russian = await client.get(f"/ui/solves/{run_id}", headers=RUSSIAN)
        english = await client.get(f"/ui/solves/{run_id}")
        shown = await client.get(f"/ui/rounds/{world.round_id}", headers=RUSSIAN)
    assert russian.status_code == english.status_code == HTTPStatus.OK, russian.text
    assert russian.json()["error"] == "решатель превысил лимит времени 5 с и был остановлен"
    assert english.json()["error"] == "the solver overran its time limit of 5 s and was stopped"
    assert 'title="решатель превысил лимит времени 5 с и был остановлен"' in shown.text, "the runs table's error"


def _path(address: str) -> str:
    """The path and query of an address the API gives, to ask the test client for."""
    parts = urlsplit(address)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def test_the_calendar_feed_made_in_russian_tells_its_events_in_russian(
    database_url: str, sessions: Sessions
) -> None:
    world = await _world(sessions)
    async with api_client(database_url) as client:
        proposer = await login(client, world.proposer)
        made = await client.post("/me/calendar-url", headers={**proposer, **RUSSIAN})
        address = made.json()["url"]
        feed = await client.get(_path(address))
        english = (await client.post("/me/calendar-url", headers=proposer)).json()["url"]
        english_feed = await client.get(_path(english))
        wrong = await client.get(_path(english) + "?lang=de")
        await sign_in(client, world.proposer)
        on_the_page = await client.post("/ui/me/calendar-url", headers={**RUSSIAN, **await from_the_page(client)})

    assert address.endswith("?lang=ru"), address
    assert feed.status_code == HTTPStatus.OK, feed.text
    events = list(Calendar.from_ical(feed.content).walk("VEVENT"))
    assert events
    for event in events:
        summary, description = str(event["summary"]), str(event["description"])
        assert " на станции " in summary, summary
        assert "\nРаунд " in description and ", запрос " in description, description
        assert not ENGLISH.search(summary.split(" на станции ")[0] + description.split("\n", 1)[1]), description
    assert "?lang" not in english, "an address in English names no language"
    english_events = list(Calendar.from_ical(english_feed.content).walk("VEVENT"))
    assert all(" on " in str(event["summary"]) for event in english_events)
    assert wrong.status_code == HTTPStatus.UNPROCESSABLE_ENTITY and "lang" in wrong.text
    assert on_the_page.status_code == HTTPStatus.OK, on_the_page.text
    assert re.search(r'value="[^"]+/calendar/[^"]+\.ics\?lang=ru"', on_the_page.text), "the Russian page's address"


async def test_the_lists_as_csv_give_their_reasons_in_the_pages_language(
    demo_database: tuple[str, Demo],  # noqa: F811 (the fixture imported above)
) -> None:
    url, demo = demo_database
    unallocated = f"/ui/rounds/{demo.round_id}/unallocated.csv"
    async with api_client(url) as client:
        await _sign_in_as(client, COORDINATOR)
        russian = await client.get(unallocated, headers=RUSSIAN)
        english = await client.get(unallocated)
        ranking = await client.get(f"/ui/rounds/{demo.round_id}/ranking.csv", headers=RUSSIAN)

    assert russian.status_code == english.status_code == ranking.status_code == HTTPStatus.OK, russian.text
    told = list(csv.DictReader(io.StringIO(russian.text)))
    written = list(csv.DictReader(io.StringIO(english.text)))
    assert told and [row["reason"] for row in told] == [row["reason"] for row in written], "codes stay codes"
    assert [row["detail"] for row in told] == [explained(row["detail"], "ru") for row in written]
    assert all(CYRILLIC.search(row["detail"]) for row in told if row["detail"])
    excluded = [row["excluded_detail"] for row in csv.DictReader(io.StringIO(ranking.text)) if row["excluded_detail"]]
    assert excluded and all(CYRILLIC.search(detail) for detail in excluded), excluded


async def test_a_bad_body_is_refused_in_russian_field_by_field_when_russian_is_asked_for(
    database_url: str, sessions: Sessions
) -> None:
    """Each problem of a submitted proposal, pydantic's own among them, in Russian after its JSON path; the paths
    are the English answer's."""
    world = await _world(sessions)
    bad = {"title": "x" * 400, "abstract": 7, "requests": [{"id": "R", "shifts": -2, "instruments": []}], "extra": 1}
    async with api_client(database_url) as client:
        bearer = await login(client, world.proposer)
        russian = await client.post(f"/rounds/{world.round_id}/proposals", json=bad, headers={**bearer, **RUSSIAN})
        english = await client.post(f"/rounds/{world.round_id}/proposals", json=bad, headers=bearer)
    assert russian.status_code == english.status_code == HTTPStatus.UNPROCESSABLE_ENTITY, english.text
    told, written = russian.json()["errors"], english.json()["errors"]
    assert [error["path"] for error in told] == [error["path"] for error in written]
    assert len(told) >= 4, told
    english_left = [error["message"] for error in told if re.search(r"[A-Za-z]{3,} [A-Za-z]{3,}", error["message"])]
    assert not english_left, told
