"""A dbt process started ahead of its command, so that dbt's start-up overlaps Dagster's and the ingest's.

A dbt command spends about 2.5 s importing dbt and its DuckDB adapter before it reads its project. This module,
started as a process (`python -m dagster_project.dbt_prestart`), imports dbt and waits: `icp refresh` starts
it before it loads the Dagster definitions, and the dbt resource when a run begins (if none is waiting). When
the dbt step invokes dbt, the command line, environment and working directory are sent to it on stdin and it
runs them exactly as the `dbt` executable would, printing to the same stdout pipe that dagster-dbt reads. A
refresh that never reaches dbt stops it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Mapping, Sequence


class PrestartedDbt:
    """One waiting dbt process, handed out by `popen` in place of starting a new one."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)

    def popen(self, args: Sequence[str], env: Mapping[str, str], cwd, **options) -> subprocess.Popen:
        """`subprocess.Popen(args, env=env, cwd=cwd, stdout=PIPE, stderr=STDOUT)`, served by the waiting
        process when there is one (a new process otherwise)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return subprocess.Popen(args, env=env, cwd=cwd, **options)
        request = {"args": list(args), "env": dict(env), "cwd": os.fspath(cwd)}
        try:
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.close()
        except OSError:  # the waiting process has died
            return subprocess.Popen(args, env=env, cwd=cwd, **options)
        proc.args = list(args)  # what dagster-dbt logs as the dbt command
        return proc

    def discard(self) -> None:
        """Stop an unused waiting process (it holds no state: it has only imported dbt)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()


_waiting: PrestartedDbt | None = None


def prestart() -> None:
    """Start a dbt process for the next run of this process to take (see `take`)."""
    global _waiting
    if _waiting is None:
        _waiting = PrestartedDbt()


def take() -> PrestartedDbt:
    """The dbt process `prestart` started, or a new one."""
    global _waiting
    found, _waiting = _waiting, None
    return found or PrestartedDbt()


def discard_waiting() -> None:
    """Stop a prestarted process that no run took."""
    global _waiting
    found, _waiting = _waiting, None
    if found is not None:
        found.discard()


def _serve() -> int:
    from dbt.cli.main import cli  # the slow part: dbt, its adapter and their dependencies
    import dbt.adapters.duckdb  # noqa: F401

    line = sys.stdin.readline()
    if not line:
        return 0
    request = json.loads(line)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = request["args"]
    return cli()


if __name__ == "__main__":
    sys.exit(_serve())
