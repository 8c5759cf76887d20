"""The scheduler's English sentences told in Russian: every form read back from its English, the engine's own
sentences on a solved round, the fixed sentences the scheduler writes, and English kept for a form not known."""

from __future__ import annotations

import re
from typing import get_args

import pytest

from api.explanations import FORMS, explained, localized
from api.sentences import NAME, Form
from fixtures import EXAMPLE_ROUND
from scheduler.jobs.worker import STALE_NOTE
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import UnallocatedReason
from scheduler.roundfile.solving import solve_round
from scheduler.schedules.confidential import PUBLIC_DETAIL
from scheduler.schedules.notices import CANCELLED, EDITED, REMOVED, REPLACED
from solver.problem import Settings

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)


def _english_pieces(form: Form) -> list[str]:
    """The form's own words between its placeholders, where they are two words or more."""
    pieces = (piece.strip(" ,.:;()[]") for piece in re.split(r"%\(\w+\)s", form.message.replace("%%", "%")))
    return [piece for piece in pieces if " " in piece]


@pytest.mark.parametrize("form", FORMS, ids=[form.message[:60] for form in FORMS])
def test_every_form_is_read_back_from_its_english_and_told_in_russian(form: Form) -> None:
    told = explained(form.example, "ru")
    assert told is not None, f"not read back: {form.example}"
    if re.search(r"[a-z]", re.sub(r"%\(\w+\)s", "", form.message)):
        assert CYRILLIC.search(told), told
    assert not [piece for piece in _english_pieces(form) if piece in told], told
    names = [name for name in re.findall(r"%\((\w+)\)s", form.message) if form.parts.get(name, NAME) is NAME]
    if names:
        assert NAME.example in told, "names stay as they are"


def test_figures_are_the_locales_numbers() -> None:
    detail = "all 12 blocks in its dates on SKIF-1-1 rank higher; lowest 1234.50 vs its 2.89"
    assert explained(detail, "ru") == (
        "все блоки в его сроки на станциях SKIF-1-1 (всего 12) выше по рейтингу; наименьший приоритет 1\xa0234,50 "
        "против его 2,89"
    )
    assert localized(detail, "en") == detail


def test_a_quotas_figures_nested_in_a_reason_are_told_piece_by_piece() -> None:
    detail = (  # as tests/solver/test_explain.py has the engine write it
        "giving it time would break hard quota country-max[RU] (country RU): 47.4% of 19 shifts against its maximum "
        "50%; headroom 1.0 shifts for a request counted like this one; adding 2 shifts (+2.0 counted to it) takes it "
        "to 52.4%"
    )
    assert explained(detail, "ru") == (
        "выделение ему времени нарушило бы: жёсткая квота country-max[RU] (страна RU): 47,4 % (всего смен: 19) "
        "при максимуме 50 %; запас для запроса, учитываемого как этот, — смен: 1,0; добавление смен: 2 "
        "(в её счёт +2,0) даёт итог: 52,4 %"
    )


def test_a_form_not_known_or_with_a_part_not_known_stays_in_english() -> None:
    assert explained("the moon is in the way", "ru") is None
    assert localized("the moon is in the way", "ru") == "the moon is in the way"
    nested = "linked all-or-nothing with P-001-b; P-001-b got no time because the moon is in the way"
    assert localized(nested, "ru") == nested, "not half Russian, half English"


def test_every_fixed_sentence_the_scheduler_writes_is_known() -> None:
    fixed = [*PUBLIC_DETAIL.values(), CANCELLED, EDITED, REPLACED, REMOVED]
    assert set(PUBLIC_DETAIL) == set(get_args(UnallocatedReason))
    assert all(explained(text, "ru") for text in fixed), [text for text in fixed if not explained(text, "ru")]
    stale = f"solve 3 of input revision 4 {STALE_NOTE} since (input revision 5)"
    assert explained(stale, "ru") == (
        "расчёт 3 по входным данным ревизии 4 устарел: раунд с тех пор изменился (ревизия 5)"
    )


def test_every_reason_the_engine_gives_on_a_solved_round_is_told_in_russian() -> None:
    _, schedule = solve_round(load_round(EXAMPLE_ROUND), Settings(time_limit=2.0, workers=1))
    details = [entry.detail for entry in schedule.unallocated if entry.detail]
    assert details, "the example round leaves requests without time"
    not_told = [detail for detail in details if explained(detail, "ru") is None]
    assert not not_told
