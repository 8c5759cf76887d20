"""Instructions run per write, by kind, counted by valgrind: the noise-free twin of `write_costs` (issue 17).

On a shared machine the CPU time of one write moves by a third from one minute to the next, so two versions of the
code are told apart here by the instructions they run, which do not move. For each kind of write of
`benchmarks.writes`' mix, a child process runs the app as `benchmarks.write_costs` does (a fresh SQLite file or the
recreated PostgreSQL database, the example round imported, three writes of the kind to warm up) under valgrind's
callgrind tool with counting off; the parent turns counting on (`callgrind_control`) for the next `--count` writes
only, and reports the instructions per write (the in-process client's included, which is the same for any server
code). Valgrind runs the child about fifty times slower; it must be installed (`valgrind`, `callgrind_control`).

    python -m benchmarks.write_instructions [--count 30] [--kinds submit rewrite ...] \
        [--postgresql postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.api import async_url, recreate_database
from benchmarks.write_costs import KINDS, WARM_UP, _accounts, _writes, in_process_client
from scheduler.db.migrations import upgrade_database

COLLECTED = re.compile(r"Collected : (\d+)")


async def _child(url: str, kind: str, count: int) -> None:
    """Writes of `kind`: three, then a line on stdout and a wait for one on stdin, then `count`, then the same."""
    await _accounts(url)
    app, client = in_process_client(url)
    loop = asyncio.get_running_loop()

    async def handshake(line: str) -> None:
        print(line, flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)

    async with app.lifespan(), client:
        writes = await _writes(client)
        for warm_kind in dict.fromkeys(("submit", kind)):  # a rewrite rewrites the proposals submitted before
            for turn in range(WARM_UP):
                await writes[warm_kind](turn)
        await handshake("ready")
        for turn in range(WARM_UP, WARM_UP + count):
            await writes[kind](turn)
        await handshake("done")


def instructions_per_write(url: str, kind: str, count: int) -> int:
    """Runs `_child` under callgrind, counting only its `count` measured writes."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={folder}/callgrind.out",
            sys.executable,
            "-m",
            "benchmarks.write_instructions",
            "--child",
            kind,
            str(count),
            url,
        ]
        with subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as child:
            assert child.stdin is not None and child.stdout is not None and child.stderr is not None
            for line, switch in (("ready", "on"), ("done", "off")):
                while child.stdout.readline().strip() != line:
                    if child.poll() is not None:
                        raise RuntimeError(f"the {kind} writes stopped: {child.stderr.read()[-2000:]}")
                subprocess.run(["callgrind_control", "-i", switch, str(child.pid)], check=True, capture_output=True)
                child.stdin.write("go\n")
                child.stdin.flush()
            log = child.stderr.read()
        counted = COLLECTED.search(log)
        if child.returncode != 0 or counted is None:
            raise RuntimeError(f"valgrind did not count the {kind} writes: {log[-2000:]}")
        return int(counted.group(1)) // count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=30, help="writes of each kind counted")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--postgresql", help="a PostgreSQL URL; its database is dropped and recreated per kind")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "COUNT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ |= {"BEAMTIME_OPEN_PROPOSALS_PER_ACCOUNT": "100000", "BEAMTIME_LOG_LEVEL": "WARNING"}
    if args.child:
        kind, count, url = args.child
        asyncio.run(_child(url, kind, int(count)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "beamtime.db"

        def fresh_sqlite() -> str:
            database.unlink(missing_ok=True)
            url = f"sqlite+aiosqlite:///{database}"
            upgrade_database(url)
            return url

        print("### SQLite\n", flush=True)
        print("\n".join(_per_kind(fresh_sqlite, args.kinds, args.count)), flush=True)
    if args.postgresql:
        address = async_url(args.postgresql)

        def fresh_postgresql() -> str:
            asyncio.run(recreate_database(address))
            url = address.render_as_string(hide_password=False)
            upgrade_database(url)
            return url

        print("\n### PostgreSQL\n", flush=True)
        print("\n".join(_per_kind(fresh_postgresql, args.kinds, args.count)), flush=True)
    return 0


def _per_kind(fresh: Callable[[], str], kinds: list[str], count: int) -> list[str]:
    """The table's lines, each kind on a database of its own (`fresh()` gives its URL)."""
    lines = ["| write | writes counted | instructions per write |", "| --- | --- | --- |"]
    for kind in kinds:
        lines.append(f"| {kind} | {count} | {instructions_per_write(fresh(), kind, count) / 1e6:.2f} M |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
