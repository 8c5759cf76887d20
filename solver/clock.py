"""How slowly the machine runs this process now: what a CPU second of work costs in wall seconds.

The engine's budget is wall time on a shared machine, but its phases' costs are known in CPU
seconds; a phase is given room for its CPU estimate times the slowdown measured on work already
done in the same process.
"""

from __future__ import annotations

SLOWEST = 20.0
"""The most wall seconds per CPU second believed (a machine that slow is better not trusted further)."""
MEASURABLE_CPU = 0.02
"""Below this much CPU a stage is too short to tell how slowly the machine runs it."""


def slowdown(wall: float, cpu: float) -> float:
    """Wall seconds per CPU second of a stage that took `wall` seconds and `cpu` seconds of its
    thread's CPU; 1 for a stage too short to tell."""
    if cpu < MEASURABLE_CPU:
        return 1.0
    return min(SLOWEST, max(1.0, wall / cpu))
