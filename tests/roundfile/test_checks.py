from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from fixtures import EXAMPLE_ROUND
from scheduler.fields import MAX_ROUND_DAYS, MAX_SHIFTS
from scheduler.roundfile.checks import (
    InputError,
    InputProblem,
    check_round,
    load_round,
    load_schedule,
    problems_from_validation_error,
)
from scheduler.roundfile.contract import MAX_REQUESTS, MAX_WINDOWS, RoundFile

EXAMPLE_PATH = EXAMPLE_ROUND
EXAMPLE: dict[str, Any] = json.loads(EXAMPLE_PATH.read_text())
Document = dict[str, Any]


def example() -> Document:
    return copy.deepcopy(EXAMPLE)


def problems_of(document: Document) -> list[InputProblem]:
    with pytest.raises(InputError) as caught:
        load_round(document)
    return caught.value.problems


def paths_of(document: Document) -> list[str]:
    return sorted(problem.path for problem in problems_of(document))


def test_the_spec_example_loads_clean() -> None:
    round_file = load_round(EXAMPLE_PATH)

    assert round_file.round.id == "2027-I-example"
    assert check_round(round_file) == []
    assert load_round(EXAMPLE_PATH.read_text()) == round_file
    assert load_round(EXAMPLE_PATH.read_bytes()) == round_file
    assert load_round(EXAMPLE) == round_file


def test_every_mistake_is_reported_at_once_with_its_path() -> None:
    document = example()
    proposals = document["proposals"]
    document["colour"] = "blue"
    proposals[2]["requests"][1]["min_shift"] = 3
    proposals[4]["requests"][0]["shifts"] = "six"
    proposals[2]["links"][0]["requests"] = ["P-003-a", 7]
    document["quotas"][0]["min_share"] = 1.5
    proposals[0]["requests"][0]["instruments"] = ["SKIF-1-1", "SKIF-9"]
    proposals[5]["requests"][0]["equipment"] = ["cryomagnet-12T"]
    proposals[1]["requests"][0]["min_shifts"] = 8
    document["facilities"][1]["maintenance"] = [
        {"start": "2027-02-06T08:00:00+03:00", "end": "2027-02-06T08:00:00+03:00", "kind": "maintenance"}
    ]
    proposals[2]["links"][1]["then"] = "P-001-a"
    proposals[3]["requests"].append({"id": "P-002-a", "instruments": ["PIK-SANS"], "shifts": 3})
    document["previous_schedule"] = [
        # SKIF is in machine development during shifts 6 to 8.
        {"request": "P-004-a", "instrument": "SKIF-1-1", "start_shift": 4, "shifts": 6, "pinned": True},
        {"request": "P-001-a", "instrument": "PIK-SANS", "start_shift": 0, "shifts": 9, "pinned": True},
    ]

    problems = {problem.path: problem.message for problem in problems_of(document)}

    assert problems == {
        "$.colour": "unknown key",
        "$.proposals[2].requests[1].min_shift": "unknown key",
        "$.proposals[4].requests[0].shifts": 'Input should be a valid integer, got "six"',
        "$.proposals[2].links[0].requests[1]": "Input should be a valid string, got 7",
        "$.quotas[0].min_share": "Input should be less than or equal to 1, got 1.5",
        "$.proposals[0].requests[0].instruments[1]": "unknown instrument 'SKIF-9'",
        "$.proposals[5].requests[0].equipment[0]": "unknown equipment 'cryomagnet-12T'",
        "$.proposals[1].requests[0].min_shifts": "min_shifts 8 is above shifts 6",
        "$.facilities[1].maintenance[0].end": "the interval ends at or before its start 2027-02-06T08:00:00+03:00",
        "$.proposals[2].links[1].then": "request 'P-001-a' is of proposal 'P-001'; a link joins its own requests",
        "$.proposals[3].requests[1].id": "duplicate request id 'P-002-a'",
        "$.previous_schedule[0].start_shift": "the pinned block [4, 10) overlaps SKIF's machine_development window "
        "[2027-02-03T08:00:00+03:00, 2027-02-04T08:00:00+03:00)",
        "$.previous_schedule[1].instrument": "instrument 'PIK-SANS' is not one of request 'P-001-a''s instruments",
    }


def test_the_error_reads_one_problem_per_line() -> None:
    document = example()
    document["colour"] = "blue"
    document["proposals"][0]["requests"][0]["min_shifts"] = 10

    with pytest.raises(InputError) as caught:
        load_round(document)

    assert str(caught.value).splitlines() == [
        "$.colour: unknown key",
        "$.proposals[0].requests[0].min_shifts: min_shifts 10 is above shifts 9",
    ]


def test_bad_json_names_its_line() -> None:
    with pytest.raises(InputError) as caught:
        load_round('{"format": "beamtime-round/1",\n "round": }')

    [problem] = caught.value.problems
    assert problem.path == "$"
    assert "line 2" in problem.message


def test_text_that_is_not_utf8_is_one_problem() -> None:
    with pytest.raises(InputError) as caught:
        load_round(b'{"format": "\xff"}')

    assert [problem.path for problem in caught.value.problems] == ["$"]


def test_types_are_those_of_json_so_a_quoted_number_is_wrong() -> None:
    document = example()
    document["proposals"][0]["requests"][0]["shifts"] = "9"

    assert problems_of(document) == [
        InputProblem("$.proposals[0].requests[0].shifts", 'Input should be a valid integer, got "9"')
    ]


def test_references_to_a_broken_part_are_not_reported_as_unknown() -> None:
    document = example()
    document["proposals"][2]["requests"][1]["shifts"] = None
    document["previous_schedule"] = [{"request": "P-003-b", "instrument": "PIK-SANS", "start_shift": 0, "shifts": 9}]

    assert paths_of(document) == ["$.proposals[2].requests[1].shifts"]


def test_a_model_check_hidden_by_an_unknown_key_is_still_reported() -> None:
    document = example()
    document["quotas"][1].update(min_share=0.9, max_share=0.5, colour="blue")

    assert problems_of(document) == [
        InputProblem("$.quotas[1].colour", "unknown key"),
        InputProblem("$.quotas[1]", "min_share 0.9 is above max_share 0.5"),
    ]


def test_an_error_outside_every_list_skips_the_cross_reference_checks() -> None:
    document = example()
    document["round"]["start"] = "2027-02-01T08:00:00"
    document["proposals"][0]["requests"][0]["instruments"] = ["SKIF-9"]

    assert paths_of(document) == ["$.round.start"]


def test_a_key_that_is_no_identifier_is_quoted_in_the_path() -> None:
    document = example()
    document["country_groups"]["BRICS+"] = ["br"]

    assert paths_of(document) == ['$.country_groups["BRICS+"][0]']


def test_a_missing_key_is_named() -> None:
    document = example()
    del document["proposals"][1]["title"]

    assert problems_of(document) == [InputProblem("$.proposals[1].title", "required key is missing")]


def test_validation_errors_convert_with_a_prefix_and_without_union_tags() -> None:
    document = example()
    document["proposals"][2]["links"][1]["min_gap_shifts"] = -1

    with pytest.raises(ValidationError) as caught:
        RoundFile.model_validate(document)

    assert problems_from_validation_error(caught.value, prefix="$.body") == [
        InputProblem(
            "$.body.proposals[2].links[1].min_gap_shifts", "Input should be greater than or equal to 0, got -1"
        )
    ]


def test_a_list_longer_than_the_format_allows_is_refused_alone_before_anything_is_validated() -> None:
    document = example()
    window = {"start": "2027-02-03T08:00:00+03:00", "end": "2027-02-04T08:00:00+03:00", "kind": "maintenance"}
    document["facilities"][0]["instruments"][0]["maintenance"] = [window] * (MAX_WINDOWS + 1)
    document["proposals"][1]["requests"][0]["shifts"] = "six"
    document["colour"] = "blue"

    assert problems_of(document) == [
        InputProblem(
            "$.facilities[0].instruments[0].maintenance", f"at most {MAX_WINDOWS} items, got {MAX_WINDOWS + 1}"
        )
    ]


def test_a_list_as_long_as_the_format_allows_is_validated_as_usual() -> None:
    document = example()
    window = {"start": "2027-02-03T08:00:00+03:00", "end": "2027-02-04T08:00:00+03:00", "kind": "maintenance"}
    document["facilities"][0]["instruments"][0]["maintenance"] = [window] * MAX_WINDOWS

    assert len(load_round(document).facilities[0].instruments[0].maintenance) == MAX_WINDOWS


@pytest.mark.parametrize(
    ("end", "shift_hours"),
    [("2031-02-01T08:00:00+03:00", 24), ("2029-05-14T16:00:00+03:00", 1)],
    ids=["1461 days", "20000 shifts"],
)
def test_a_round_as_long_as_the_format_allows_loads(end: str, shift_hours: int) -> None:
    document = example()
    document["round"].update(end=end, shift_hours=shift_hours)

    assert load_round(document).round.end.isoformat() == end


@pytest.mark.parametrize(
    ("end", "shift_hours", "message"),
    [
        ("2031-02-02T08:00:00+03:00", 24, f"the round lasts 1462 days; at most {MAX_ROUND_DAYS}"),
        ("2029-05-14T17:00:00+03:00", 1, f"the round has 20001 shifts of 1 h; at most {MAX_SHIFTS}"),
    ],
)
def test_a_round_longer_than_the_format_allows_is_refused_at_its_end(end: str, shift_hours: int, message: str) -> None:
    document = example()
    document["round"].update(end=end, shift_hours=shift_hours)

    assert problems_of(document) == [InputProblem("$.round.end", message)]


Mutation = Callable[[Document], None]


def pinned(request: str, instrument: str, start_shift: int, shifts: int) -> Mutation:
    def add(document: Document) -> None:
        document["previous_schedule"] = [
            {
                "request": request,
                "instrument": instrument,
                "start_shift": start_shift,
                "shifts": shifts,
                "pinned": True,
            }
        ]

    return add


def request_of(document: Document, proposal: int, index: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = document["proposals"][proposal]["requests"][index]
    return found


def duplicate_ids(document: Document) -> None:
    document["facilities"][1]["id"] = "SKIF"
    document["facilities"][1]["instruments"].append({"id": "SKIF-1-1", "name": "another"})
    document["equipment"].append({"id": "cryomagnet-9T", "name": "another"})
    document["quotas"][1]["id"] = "foreign-min"
    document["proposals"][1]["id"] = "P-001"


def inverted_round(document: Document) -> None:
    document["round"]["end"] = document["round"]["start"]


def round_shorter_than_a_shift(document: Document) -> None:
    document["round"]["end"] = "2027-02-01T15:00:00+03:00"


def long_min_shifts(document: Document) -> None:
    request_of(document, 5).update(shifts=50, min_shifts=43)


def latest_before_earliest(document: Document) -> None:
    request_of(document, 1)["latest"] = "2027-02-04T08:00:00+03:00"


def inverted_unavailable(document: Document) -> None:
    inverted = {"start": "2027-02-04T08:00:00+03:00", "end": "2027-02-03T08:00:00+03:00"}
    request_of(document, 0)["unavailable"] = [inverted]


def inverted_instrument_window(document: Document) -> None:
    window = {"start": "2027-02-04T08:00:00+03:00", "end": "2027-02-03T08:00:00+03:00", "kind": "other"}
    document["facilities"][0]["instruments"][0]["maintenance"] = [window]


def unknown_link_requests(document: Document) -> None:
    document["proposals"][2]["links"] = [
        {"type": "all_or_nothing", "requests": ["P-003-a", "P-003-z", "P-003-a"]},
        {"type": "after", "first": "P-003-a", "then": "P-003-a", "min_gap_shifts": 4, "max_gap_shifts": 2},
    ]


def bad_quota_references(document: Document) -> None:
    document["quotas"][2]["scope"] = {"facilities": ["SKIF", "ESRF"], "instruments": ["ID-29"]}
    document["quotas"][3]["category"] = {"country_group": "ASEAN"}


def twice_and_unknown_in_previous_schedule(document: Document) -> None:
    document["previous_schedule"] = [
        {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 0, "shifts": 6},
        {"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 20, "shifts": 6},
        {"request": "P-009-a", "instrument": "SKIF-1-1", "start_shift": 30, "shifts": 6, "pinned": True},
    ]


def unpinned_on_a_blocked_shift(document: Document) -> None:
    document["previous_schedule"] = [{"request": "P-001-a", "instrument": "SKIF-1-1", "start_shift": 5, "shifts": 6}]


ROUND_START = "2027-02-01T08:00:00+03:00"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            duplicate_ids,
            [
                ("$.facilities[1].id", "duplicate facility id 'SKIF'"),
                ("$.facilities[1].instruments[1].id", "duplicate instrument id 'SKIF-1-1'"),
                ("$.equipment[1].id", "duplicate equipment id 'cryomagnet-9T'"),
                ("$.quotas[1].id", "duplicate quota id 'foreign-min'"),
                ("$.proposals[1].id", "duplicate proposal id 'P-001'"),
            ],
        ),
        (inverted_round, [("$.round.end", f"the round ends at or before its start {ROUND_START}")]),
        (round_shorter_than_a_shift, [("$.round.end", "not one whole shift of 8 hours fits in the round")]),
        (
            long_min_shifts,
            [("$.proposals[5].requests[0].min_shifts", "min_shifts 43 is more than the round's 42 shifts")],
        ),
        (
            latest_before_earliest,
            [
                (
                    "$.proposals[1].requests[0].latest",
                    "latest 2027-02-04T08:00:00+03:00 is not after earliest 2027-02-05T08:00:00+03:00",
                )
            ],
        ),
        (
            inverted_unavailable,
            [
                (
                    "$.proposals[0].requests[0].unavailable[0].end",
                    "the interval ends at or before its start 2027-02-04T08:00:00+03:00",
                )
            ],
        ),
        (
            inverted_instrument_window,
            [
                (
                    "$.facilities[0].instruments[0].maintenance[0].end",
                    "the interval ends at or before its start 2027-02-04T08:00:00+03:00",
                )
            ],
        ),
        (
            unknown_link_requests,
            [
                ("$.proposals[2].links[0].requests[1]", "unknown request 'P-003-z'"),
                ("$.proposals[2].links[0].requests[2]", "request 'P-003-a' is listed twice"),
                ("$.proposals[2].links[1].then", "a request cannot come after itself"),
                ("$.proposals[2].links[1].max_gap_shifts", "max_gap_shifts 2 is below min_gap_shifts 4"),
            ],
        ),
        (
            bad_quota_references,
            [
                ("$.quotas[2].scope.facilities[1]", "unknown facility 'ESRF'"),
                ("$.quotas[2].scope.instruments[0]", "unknown instrument 'ID-29'"),
                ("$.quotas[3].category.country_group", "unknown country group 'ASEAN'"),
            ],
        ),
        (
            twice_and_unknown_in_previous_schedule,
            [
                ("$.previous_schedule[1].request", "request 'P-001-a' has an allocation already"),
                ("$.previous_schedule[2].request", "unknown request 'P-009-a'"),
            ],
        ),
        (unpinned_on_a_blocked_shift, []),
        (pinned("P-001-a", "SKIF-1-1", 9, 9), []),
        (
            pinned("P-001-a", "SKIF-1-1", 9, 10),
            [("$.previous_schedule[0].shifts", "the pinned block [9, 19) is longer than the request's 9 shifts")],
        ),
        (
            pinned("P-001-a", "SKIF-1-1", 9, 5),
            [("$.previous_schedule[0].shifts", "the pinned block [9, 14) is shorter than the request's min_shifts 6")],
        ),
        (
            pinned("P-001-a", "SKIF-1-1", 38, 6),
            [("$.previous_schedule[0].start_shift", "the pinned block [38, 44) ends after the round's 42 shifts")],
        ),
        (
            pinned("P-002-a", "SKIF-1-4", 10, 6),
            [
                (
                    "$.previous_schedule[0].start_shift",
                    "the pinned block [10, 16) starts at 2027-02-04T16:00:00+03:00, "
                    "before earliest 2027-02-05T08:00:00+03:00",
                )
            ],
        ),
        (
            pinned("P-002-a", "SKIF-1-4", 24, 6),
            [
                (
                    "$.previous_schedule[0].start_shift",
                    "the pinned block [24, 30) overlaps SKIF-1-4's maintenance window "
                    "[2027-02-10T08:00:00+03:00, 2027-02-10T16:00:00+03:00)",
                )
            ],
        ),
        (
            pinned("P-003-b", "PIK-SANS", 30, 9),
            [
                (
                    "$.previous_schedule[0].start_shift",
                    "the pinned block [30, 39) overlaps the request's unavailable "
                    "[2027-02-12T08:00:00+03:00, 2027-02-15T08:00:00+03:00)",
                )
            ],
        ),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_cross_reference_checks(mutate: Mutation, expected: list[tuple[str, str]]) -> None:
    document = example()
    mutate(document)

    round_file = RoundFile.model_validate(document)

    assert check_round(round_file) == [InputProblem(path, message) for path, message in expected]


def test_a_pinned_block_that_ends_after_latest_is_reported() -> None:
    document = example()
    request_of(document, 0)["latest"] = "2027-02-05T08:00:00+03:00"
    pinned("P-001-a", "SKIF-1-1", 9, 9)(document)

    assert check_round(RoundFile.model_validate(document)) == [
        InputProblem(
            "$.previous_schedule[0].start_shift",
            "the pinned block [9, 18) ends at 2027-02-07T08:00:00+03:00, after latest 2027-02-05T08:00:00+03:00",
        )
    ]


def schedule() -> Document:
    return {
        "format": "beamtime-schedule/1",
        "round": "2027-I-example",
        "status": "optimal",
        "objective": 28.8,
        "bound": 28.8,
        "solve_seconds": 0.4,
        "allocations": [
            {
                "proposal": "P-001",
                "request": "P-001-a",
                "instrument": "SKIF-1-1",
                "start_shift": 0,
                "shifts": 9,
                "start": "2027-02-01T08:00:00+03:00",
                "end": "2027-02-04T08:00:00+03:00",
                "priority": 3.2,
            }
        ],
        "unallocated": [],
        "quotas": [],
    }


def test_a_schedule_loads() -> None:
    loaded = load_schedule(json.dumps(schedule()))

    assert loaded.allocations[0].request == "P-001-a"


def test_a_schedule_with_unknown_keys_is_rejected_with_their_paths() -> None:
    document = schedule()
    document["allocations"][0]["colour"] = "blue"
    document["comment"] = "by hand"

    with pytest.raises(InputError) as caught:
        load_schedule(document)

    assert sorted(caught.value.problems, key=lambda problem: problem.path) == [
        InputProblem("$.allocations[0].colour", "unknown key"),
        InputProblem("$.comment", "unknown key"),
    ]


def test_a_schedule_with_absurd_numbers_or_lengths_is_refused_naming_them() -> None:
    """The referee walks every shift of a block, so a block of a hundred million shifts must not reach it."""
    huge_block = schedule()
    huge_block["allocations"][0]["shifts"] = 10**8
    too_many = schedule()
    too_many["allocations"] = too_many["allocations"] * (MAX_REQUESTS + 1)

    with pytest.raises(InputError) as caught:
        load_schedule(huge_block)
    assert caught.value.problems == [
        InputProblem("$.allocations[0].shifts", "Input should be less than or equal to 20000, got 100000000")
    ]
    with pytest.raises(InputError) as caught:
        load_schedule(too_many)
    assert caught.value.problems == [
        InputProblem("$.allocations", f"at most {MAX_REQUESTS} items, got {MAX_REQUESTS + 1}")
    ]
