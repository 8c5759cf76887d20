"""The schedule file's rank-fairness counts are keyed by the reasons a held block stays, and by nothing else."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from scheduler.roundfile.contract import RankFairness


def test_counts_by_a_known_reason_are_kept() -> None:
    counts = RankFairness.model_validate({"requests": 2, "blocks": 3, "stays_because": {"link": 2, "quota": 1}})
    assert counts.stays_because == {"link": 2, "quota": 1}


@pytest.mark.parametrize("counts", [{"bribery": 1}, {"link": -1}])
def test_an_unknown_reason_or_a_negative_count_is_refused(counts: dict[str, int]) -> None:
    with pytest.raises(ValidationError) as raised:
        RankFairness.model_validate({"requests": 1, "blocks": 1, "stays_because": counts})
    assert raised.value.errors()[0]["loc"][0] == "stays_because"
