#!/usr/bin/env python3
"""Development entry point that needs nothing but Python: `python3 dev.py run|solve|test|bench|lock`.

It creates `.venv` and installs the project into it, at the versions `requirements.lock` pins,
when pyproject.toml or the lock file changed. `lock` writes the lock file from what is installed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if sys.platform == "win32" else "bin")
STAMP = VENV / ".installed"
LOCK = ROOT / "requirements.lock"


def setup() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        venv.create(VENV, with_pip=True)
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(BIN / "python", "-m", "pip", "install", "--quiet", "--constraint", LOCK, "-e", ".[dev]")
    STAMP.write_text(wanted)


def lock() -> None:
    """Pin every installed distribution (after `pip install -e .[dev]` without constraints, to move to newer ones)."""
    frozen = subprocess.run(
        [str(BIN / "python"), "-m", "pip", "freeze", "--exclude-editable"], check=True, capture_output=True, text=True
    ).stdout
    LOCK.write_text("# Exact versions CI and `dev.py` install; regenerate with `python3 dev.py lock`.\n" + frozen)


def audit() -> None:
    """Known vulnerabilities in the pinned versions, from PyPI's advisory data (skipped, saying so, when offline)."""
    try:
        urllib.request.urlopen("https://pypi.org/simple/", timeout=10).close()
    except OSError as error:
        print(f"dependency audit skipped: PyPI is out of reach ({error})", flush=True)
        return
    run(BIN / "pip-audit", "--requirement", LOCK, "--no-deps", "--progress-spinner", "off")


def run(*command: object) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    completed = subprocess.run([str(part) for part in command], cwd=ROOT, check=False)
    if completed.returncode != 0:
        sys.exit(completed.returncode)


def main_job() -> None:
    """Serve the API and dashboard on SQLite with the bundled medium round imported, solved and published.

    dev.py becomes the server (exec), so Ctrl-C reaches uvicorn alone and it shuts down cleanly."""
    command = [str(BIN / "beamtime"), "serve", "--demo", *sys.argv[2:]]
    print("+", " ".join(command), flush=True)
    os.chdir(ROOT)
    os.execv(command[0], command)


def solve_facility() -> None:
    """Solve the bundled facility-size round from the command line and check it against every rule."""
    round_file = ROOT / "fixtures" / "rounds" / "facility.json"
    schedule = ROOT / "out" / "facility-schedule.json"
    run(BIN / "beamtime", "solve", round_file, "-o", schedule, "--time-limit", "60")
    run(BIN / "beamtime", "validate", round_file, schedule)


def test() -> None:
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    run(BIN / "pytest", "-n", "2", "--durations=10")


def bench() -> None:
    run(BIN / "python", "-m", "benchmarks.engine", *sys.argv[2:])


COMMANDS = {
    "run": main_job,
    "solve": solve_facility,
    "test": test,
    "bench": bench,
    "lock": lock,
    "audit": audit,
    "setup": lambda: None,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python3 dev.py {'|'.join(COMMANDS)}")
    setup()
    COMMANDS[sys.argv[1]]()
