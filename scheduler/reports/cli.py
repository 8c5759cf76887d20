"""`beamtime report`: a schedule's usage by country, group, facility, instrument or proposal type."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from scheduler.reports.formats import FORMATS, render_csv, render_table, render_xlsx
from scheduler.reports.usage import GROUPINGS, UsageReport, usage_report
from scheduler.roundfile.checks import load_round, load_schedule


def add_report_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report", help="usage of a schedule: requested, allocated and owed shifts, success rate, oversubscription"
    )
    report.add_argument("round", type=Path, metavar="ROUND.json")
    report.add_argument("schedule", type=Path, metavar="SCHEDULE.json")
    report.add_argument("--by", choices=GROUPINGS, default="country")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument(
        "--attribution", choices=("pi", "team"), default="pi", help="shifts to the PI's country, or split over the team"
    )
    report.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here (required for xlsx)")
    report.set_defaults(run=_report)


def _report(args: argparse.Namespace) -> int:
    if args.format == "xlsx" and args.output is None:
        print("beamtime report: --format xlsx needs -o FILE", file=sys.stderr)
        return 2
    report = usage_report(load_round(args.round), load_schedule(args.schedule), args.by, args.attribution)
    if args.format == "xlsx":
        args.output.write_bytes(render_xlsx(report))
        return 0
    renderers: dict[str, Callable[[UsageReport], str]] = {
        "table": render_table,
        "csv": render_csv,
        "json": lambda usage: usage.model_dump_json(indent=1),
    }
    text = renderers[args.format](report)
    if args.output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        args.output.write_text(text)
    return 0
