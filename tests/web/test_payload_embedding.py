"""The page's JSON payload sits inside a <script> element: text from proposers must not end it or change its meaning."""

from __future__ import annotations

import json

from api.web.views.timeline import Payload
from fixtures import ROUNDS
from scheduler.roundfile.checks import load_round

HOSTILE_TITLE = "</script><script>alert('x & y')</script> — Дифракция <!--"


def test_a_title_that_would_close_the_script_is_escaped_and_read_back_whole() -> None:
    round_file = load_round(ROUNDS / "small.json")
    first, *others = round_file.proposals
    hostile = round_file.model_copy(update={"proposals": [first.model_copy(update={"title": HOSTILE_TITLE}), *others]})
    payload = Payload(hostile, locale="en")
    row = payload.proposal(first.id)

    embedded = payload.embedded()

    assert not set("<>&'") & set(embedded), "no character that HTML or an attribute would read"
    document = json.loads(embedded)
    assert document["strings"][document["proposals"][row][1]] == HOSTILE_TITLE
