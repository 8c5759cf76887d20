"""The proposer's slot status under load, on PostgreSQL, with the load generator on the same machine.

Builds a fresh database: migrations, the facility-size fixture round imported
(timed: the target is <= 10 s), a schedule solved for it and published (the round
re-imported with it as `previous_schedule`), and a proposer owning many proposals.
Then, for each uvicorn worker count, it serves the API as a subprocess on
127.0.0.1 and measures `GET /proposals/{id}/slots` rotating over the proposer's
proposals:

- closed loop: `wrk` with 64 connections for 30 s (requests/s, p50/p90/p99);
- open loop: a steady 200 requests/s for 30 s from the asyncio generator below,
  latency counted from each request's scheduled send time, so a stalled server
  cannot hide its queue (no coordinated omission);
- the same read through an ORM session and its per-request transaction (the
  API's usual `db_session`), closed loop, for comparison in the same run.

    python -m benchmarks.api --database postgresql://postgres@127.0.0.1:5432/beamtime_bench

The machine is shared: each measurement reports the load average, how busy the
cores were, and the CPU time per request of the server, of the PostgreSQL
backends and of the load generator, which the neighbours' load changes far less
than throughput or latency; cores divided by it is the ceiling on idle cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import quantiles

import uvloop
from litestar import Controller, Litestar, get
from sqlalchemy import select, text, update
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from api.app import create_app
from api.params import CurrentUser, Id, Session
from fixtures import ROUNDS
from scheduler.accounts.service import create_user
from scheduler.accounts.tokens import issue_token
from scheduler.db.engine import create_engine, session_maker
from scheduler.db.migrations import upgrade_database
from scheduler.db.tables import Allocation, Proposal, Request, ScheduleVersion
from scheduler.roundfile.checks import load_round
from scheduler.roundfile.contract import PreviousAllocation
from scheduler.roundfile.solving import solve_round
from scheduler.rounds.importer import import_round
from scheduler.rounds.replacement import replace_round
from scheduler.schedules.slots import ProposalSlots, read_slots
from scheduler.schedules.versions import PUBLISHED
from scheduler.settings import Settings
from solver.problem import Settings as SolveSettings

FACILITY = ROUNDS / "facility.json"
HOT_PATH = "/proposals/{}/slots"
SESSION_PATH = "/benchmark/session/proposals/{}/slots"


class SessionVariant(Controller):
    """The same read through the request's ORM session and transaction, as most endpoints read."""

    path = "/benchmark/session"

    @get("/proposals/{proposal_id:int}/slots")
    async def through_session(self, proposal_id: Id, db_session: Session, current_user: CurrentUser) -> ProposalSlots:
        return await read_slots(db_session, current_user, proposal_id)


def create_benchmark_app() -> Litestar:
    """The API as served, plus the session variant; `uvicorn --factory benchmarks.api:create_benchmark_app`."""
    app = create_app(migrate=False)
    app.register(SessionVariant)
    return app


# The database


@dataclass(frozen=True)
class Prepared:
    proposal_ids: list[int]
    token: str
    parse_seconds: float
    import_seconds: float
    """From the parsed round file to the committed round, proposals, reviews and all."""
    publish_import_seconds: float
    """The same round re-imported into itself with a published schedule (`previous_schedule`)."""
    proposals: int
    requests: int
    allocations: int
    solve_seconds: float


def async_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit("--database must be a PostgreSQL URL")
    return parsed.set(drivername="postgresql+asyncpg")


async def recreate_database(url: URL) -> None:
    admin = create_async_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        await connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    await admin.dispose()


async def prepare(url: str, settings: Settings, owned: int, solve_limit: float) -> Prepared:
    began = time.perf_counter()
    round_file = load_round(FACILITY)
    parse_seconds = time.perf_counter() - began

    engine = create_engine(url)
    sessions = session_maker(engine)
    began = time.perf_counter()
    async with sessions.begin() as session:
        round_id = await import_round(session, round_file)
    import_seconds = time.perf_counter() - began

    began = time.perf_counter()
    _, schedule = await asyncio.to_thread(
        solve_round, round_file, SolveSettings(time_limit=solve_limit, workers=2, seed=1)
    )
    solve_seconds = time.perf_counter() - began
    previous = [
        PreviousAllocation(request=a.request, instrument=a.instrument, start_shift=a.start_shift, shifts=a.shifts)
        for a in schedule.allocations
    ]
    began = time.perf_counter()
    async with sessions.begin() as session:
        await replace_round(session, round_id, round_file.model_copy(update={"previous_schedule": previous}))
    publish_import_seconds = time.perf_counter() - began

    async with sessions.begin() as session:
        user = await create_user(session, "proposer@benchmark.example", "Benchmark Proposer", "proposer", "benchmark!")
        scheduled = (
            await session.execute(
                select(col(Request.proposal_id))
                .join(Allocation, col(Allocation.request_id) == col(Request.id))
                .join(ScheduleVersion, col(ScheduleVersion.id) == col(Allocation.schedule_version_id))
                .where(col(ScheduleVersion.status) == PUBLISHED)
                .group_by(col(Request.proposal_id))
                .order_by(col(Request.proposal_id))
                .limit(owned)
            )
        ).scalars()
        proposal_ids = list(scheduled)
        await session.execute(update(Proposal).where(col(Proposal.id).in_(proposal_ids)).values(owner_id=user.id))
    await engine.dispose()
    return Prepared(
        proposal_ids=proposal_ids,
        token=issue_token(user.id, 0, settings=settings),
        parse_seconds=parse_seconds,
        import_seconds=import_seconds,
        publish_import_seconds=publish_import_seconds,
        proposals=len(round_file.proposals),
        requests=sum(len(p.requests) for p in round_file.proposals),
        allocations=len(previous),
        solve_seconds=solve_seconds,
    )


# The machine


@dataclass(frozen=True)
class Machine:
    load_average: float
    """1-minute load average when the measurement started."""
    busy_share: float
    """Of all cores, over the measurement, by everything on the machine."""
    server_cpu_seconds: float
    """The uvicorn processes'."""
    database_cpu_seconds: float
    """The PostgreSQL backends connected to the benchmark database."""
    generator_cpu_seconds: float
    """wrk's, or this process's for the open loop."""


def _busy_jiffies() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _process_tree(pid: int) -> Iterator[int]:
    yield pid
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        for child in children:
            yield from _process_tree(int(child))


def _cpu_seconds(pids: Iterable[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """This process and its finished children (wrk)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _backend_pids(url: URL) -> list[int]:
    async def query() -> list[int]:
        engine = create_async_engine(url)
        async with engine.connect() as connection:
            pids = await connection.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            )
            found = list(pids)
        await engine.dispose()
        return found

    return asyncio.run(query())


@contextmanager
def observed(server_pid: int, database: URL, into: dict[str, Machine], key: str) -> Iterator[None]:
    load = os.getloadavg()[0]
    backends = _backend_pids(database)
    servers = list(_process_tree(server_pid))
    busy, total = _busy_jiffies()
    server, backend, generator = _cpu_seconds(servers), _cpu_seconds(backends), _own_cpu_seconds()
    yield
    busy_after, total_after = _busy_jiffies()
    into[key] = Machine(
        load_average=round(load, 2),
        busy_share=round((busy_after - busy) / max(1, total_after - total), 3),
        server_cpu_seconds=round(_cpu_seconds(servers) - server, 2),
        database_cpu_seconds=round(_cpu_seconds(backends) - backend, 2),
        generator_cpu_seconds=round(_own_cpu_seconds() - generator, 2),
    )


# The server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: str, settings: Settings, workers: int, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    environment = os.environ | {
        "DATABASE_URL": settings.database_url,
        "BEAMTIME_JWT_SECRET": settings.jwt_secret,
        "BEAMTIME_RUN_WORKER_IN_API": "false",
        "BEAMTIME_RUN_NIGHTLY_IN_API": "false",
    }
    server = subprocess.Popen(command, env=environment)
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, token: str) -> int:
    """One keep-alive GET; returns the status. Enough HTTP/1.1 for this server's answers (Content-Length)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


async def wait_until_up(port: int, path: str, token: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            status = await _get(reader, writer, path, token)
            writer.close()
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")
            return
        except (ConnectionError, asyncio.IncompleteReadError):
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start") from None
            await asyncio.sleep(0.2)


# Closed loop: wrk

WRK_SCRIPT = """
local ids = {%(ids)s}
local token = "%(token)s"
local template = "%(template)s"
local threads = 0
setup = function(thread)
  thread:set("first", threads * 7919)
  threads = threads + 1
end
init = function(args)
  i = first or 0
end
request = function()
  i = i + 1
  local path = string.gsub(template, "{}", ids[(i %% #ids) + 1])
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass(frozen=True)
class ClosedLoop:
    connections: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int


def closed_loop(port: int, template: str, ids: Sequence[int], token: str, connections: int, seconds: int) -> ClosedLoop:
    script = WRK_SCRIPT % {"ids": ",".join(map(str, ids)), "token": token, "template": template}
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as file:
        file.write(script)
        file.flush()
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", file.name, f"http://127.0.0.1:{port}"]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    found = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT ")).split(" ", 1)[1])
    return ClosedLoop(
        connections=connections,
        seconds=round(found["duration_us"] / 1e6, 1),
        requests_per_second=round(found["requests"] / (found["duration_us"] / 1e6)),
        p50_ms=found["p50_us"] / 1000,
        p90_ms=found["p90_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
        errors=found["errors"],
        non_2xx=found["non_2xx"],
    )


# Open loop: a constant arrival schedule


@dataclass(frozen=True)
class OpenLoop:
    rate: float
    seconds: float
    sent: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    late_send_p99_ms: float
    """How late the generator itself sent (inside the latencies already); if large, the figures are the generator's."""
    connections: int
    """Opened as needed: a request never waits for a free connection."""
    errors: int


async def open_loop(port: int, template: str, ids: Sequence[int], token: str, rate: float, seconds: int) -> OpenLoop:
    """Times come from perf_counter: uvloop's loop.time() moves in whole milliseconds."""
    idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque(
        [await asyncio.open_connection("127.0.0.1", port) for _ in range(8)]
    )
    """First in, first out, so that no connection idles past the server's keep-alive timeout."""
    opened = len(idle)
    latencies: list[float] = []
    lateness: list[float] = []
    errors = 0

    async def send(scheduled: float, path: str) -> None:
        nonlocal opened, errors
        lateness.append(time.perf_counter() - scheduled)
        if idle:
            connection = idle.popleft()
        else:
            connection = await asyncio.open_connection("127.0.0.1", port)
            opened += 1
        try:
            status = await _get(*connection, path, token)
        except (ConnectionError, asyncio.IncompleteReadError):
            errors += 1
            return
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200
        idle.append(connection)

    count = int(rate * seconds)
    start = time.perf_counter() + 0.05
    tasks = []
    for number in range(count):
        scheduled = start + number / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        path = template.format(ids[number % len(ids)])
        tasks.append(asyncio.create_task(send(scheduled, path)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    cuts = quantiles(latencies, n=100, method="inclusive")
    return OpenLoop(
        rate=rate,
        seconds=seconds,
        sent=count,
        p50_ms=round(cuts[49] * 1000, 2),
        p90_ms=round(cuts[89] * 1000, 2),
        p99_ms=round(cuts[98] * 1000, 2),
        max_ms=round(max(latencies) * 1000, 2),
        late_send_p99_ms=round(quantiles(lateness, n=100, method="inclusive")[98] * 1000, 2),
        connections=opened,
        errors=errors,
    )


# The run


def measure(args: argparse.Namespace, database: URL, settings: Settings, prepared: Prepared, workers: int) -> Run:
    port = free_port()
    ids, token = prepared.proposal_ids, prepared.token
    run = Run(workers=workers)
    with serving(args.app, settings, workers, port) as server:
        uvloop.run(wait_until_up(port, HOT_PATH.format(ids[0]), token))
        closed_loop(port, HOT_PATH, ids, token, args.connections, args.warmup)
        with observed(server.pid, database, run.machine, "connection, closed loop"):
            run.figures["connection, closed loop"] = closed_loop(
                port, HOT_PATH, ids, token, args.connections, args.seconds
            )
        with observed(server.pid, database, run.machine, "connection, open loop"):
            run.figures["connection, open loop"] = uvloop.run(
                open_loop(port, HOT_PATH, ids, token, args.rate, args.seconds)
            )
        if args.compare_session:
            closed_loop(port, SESSION_PATH, ids, token, args.connections, args.warmup)
            with observed(server.pid, database, run.machine, "ORM session, closed loop"):
                run.figures["ORM session, closed loop"] = closed_loop(
                    port, SESSION_PATH, ids, token, args.connections, args.seconds
                )
    return run


@dataclass
class Run:
    workers: int
    figures: dict[str, ClosedLoop | OpenLoop] = field(default_factory=dict)
    machine: dict[str, Machine] = field(default_factory=dict)


def report(args: argparse.Namespace, prepared: Prepared, runs: list[Run]) -> str:
    cores = os.cpu_count() or 1
    lines = [
        f"Command: `python -m benchmarks.api {shlex.join(args.argv)}`",
        "",
        f"Machine: {platform.platform()}, {cores} CPUs, Python {platform.python_version()}.",
        "",
        f"Import of fixtures/rounds/facility.json ({prepared.proposals:,} proposals, {prepared.requests:,} requests): "
        f"parse and check {prepared.parse_seconds:.2f} s, import {prepared.import_seconds:.2f} s; "
        f"re-import with a published schedule of {prepared.allocations:,} allocations "
        f"{prepared.publish_import_seconds:.2f} s (schedule solved in {prepared.solve_seconds:.1f} s). "
        f"The proposer owns {len(prepared.proposal_ids):,} scheduled proposals; requests rotate over them.",
        "",
        "| workers | read, load | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | load avg | cores busy "
        "| CPU ms/request: server + db + load | = req/s on idle cores |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for run in runs:
        for key, figures in run.figures.items():
            machine = run.machine[key]
            if isinstance(figures, ClosedLoop):
                load = f"{key} ({figures.connections} connections)"
                rate = float(figures.requests_per_second)
                errors = figures.errors + figures.non_2xx
            else:
                load = f"{key} ({figures.rate:g}/s)"
                rate = figures.sent / figures.seconds
                errors = figures.errors
            requests = rate * figures.seconds
            per_request = [1000 * seconds / requests for seconds in (
                machine.server_cpu_seconds, machine.database_cpu_seconds, machine.generator_cpu_seconds
            )]  # fmt: skip
            lines.append(
                f"| {run.workers} | {load} | {rate:,.0f} | {figures.p50_ms:.1f} | {figures.p90_ms:.1f} | "
                f"{figures.p99_ms:.1f} | {figures.max_ms:.1f} | {errors} | {machine.load_average:.2f} | "
                f"{machine.busy_share:.0%} | {' + '.join(f'{ms:.2f}' for ms in per_request)} "
                f"= {sum(per_request):.2f} | "
                f"{1000 * cores / sum(per_request):,.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="a PostgreSQL URL; the database is dropped and recreated")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts to measure")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s of the open loop")
    parser.add_argument("--owned", type=int, default=1000, help="proposals the benchmark proposer owns")
    parser.add_argument("--solve-limit", type=float, default=5.0, help="seconds for solving the published schedule")
    parser.add_argument("--compare-session", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--app", default="benchmarks.api:create_benchmark_app", help="uvicorn --factory target")
    parser.add_argument("--output", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install it with `apt-get install -y wrk` (Debian) or `brew install wrk`")

    url = async_url(args.database)
    settings = Settings(database_url=url.render_as_string(hide_password=False), jwt_secret=secrets.token_hex(32))
    asyncio.run(recreate_database(url))
    upgrade_database(settings.database_url)
    prepared = asyncio.run(prepare(settings.database_url, settings, args.owned, args.solve_limit))
    runs = [measure(args, url, settings, prepared, workers) for workers in args.workers]

    print(report(args, prepared, runs))
    if args.output:
        setup = asdict(prepared) | {"proposal_ids": len(prepared.proposal_ids)}
        del setup["token"]
        document = {"prepared": setup, "runs": runs}
        args.output.write_text(json.dumps(document, default=asdict, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
