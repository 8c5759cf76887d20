"""The referee's blocked shifts, found by arithmetic on the grid, are every shift a window overlaps by any part (a
window need not start or end on a shift's edge, nor in the round), each named by the first window that blocks it:
the facility's windows before the instrument's, in their order."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from fixtures import EXAMPLE_ROUND
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import Window
from scheduler.roundfile.validate import Referee

ROUND = load_round(EXAMPLE_ROUND)
SHIFT = timedelta(hours=ROUND.round.shift_hours)
SHIFTS = (ROUND.round.end - ROUND.round.start) // SHIFT
KINDS = ["machine_development", "maintenance", "shutdown"]


def _window(kind: str, start_minutes: int, length_minutes: int) -> Window:
    start = ROUND.round.start + timedelta(minutes=start_minutes)
    return Window(kind=kind, start=start, end=start + timedelta(minutes=length_minutes))


WINDOWS = st.lists(
    st.builds(
        _window,
        st.sampled_from(KINDS),
        st.integers(min_value=-600, max_value=SHIFTS * 480 + 600) | st.sampled_from([0, 480, 960, SHIFTS * 480]),
        st.integers(min_value=-60, max_value=3000) | st.sampled_from([0, 1, 480]),
    ),
    max_size=4,
)


def _overlaps(window: Window, shift: int) -> bool:
    start = ROUND.round.start + shift * SHIFT
    return start < window.end and window.start < start + SHIFT


def _first_blocking(windows: list[tuple[Window, str]], shift: int) -> str | None:
    return next((f"{w.kind} window of {owner}" for w, owner in windows if _overlaps(w, shift)), None)


@given(facility_windows=WINDOWS, instrument_windows=WINDOWS)
def test_a_shift_is_blocked_by_the_first_window_that_overlaps_it(
    facility_windows: list[Window], instrument_windows: list[Window]
) -> None:
    skif = ROUND.facilities[0]
    first, *others = skif.instruments
    windowed = skif.model_copy(
        update={
            "maintenance": facility_windows,
            "instruments": [first.model_copy(update={"maintenance": instrument_windows}), *others],
        }
    )
    round_file = ROUND.model_copy(update={"facilities": [windowed, *ROUND.facilities[1:]]})
    windows = [(w, f"facility {skif.id}") for w in facility_windows]
    windows += [(w, f"instrument {first.id}") for w in instrument_windows]

    blocked = Referee(round_file).blocked[first.id]

    expected = {shift: _first_blocking(windows, shift) for shift in range(SHIFTS)}
    assert blocked == {shift: named for shift, named in expected.items() if named is not None}
