"""A dbt process started ahead of its command, so that dbt's start-up overlaps Dagster's and the ingest's.

A dbt command spends about 2.5 s importing dbt and its DuckDB adapter, then 1 s (3.5 s in a new home) reading
its project before it runs anything. This module, started as a process (`python -m dagster_project.dbt_prestart`),
imports dbt and waits: `icp refresh` starts it before it loads the Dagster definitions, and the dbt resource when
a run begins (if none is waiting). It is then asked to load the project (`load_project`): it parses it as the dbt
step will run it (same project, profile, target folder, warehouse and vars) while the ingest runs, at low priority.
When the dbt step invokes dbt, the command line, environment and working directory are sent to it on stdin and
it runs them as the `dbt` executable would, on the project it loaded when nothing that shapes the project differs
(else it reads the project again), printing to the same stdout pipe that dagster-dbt reads. A refresh that never
reaches dbt stops it.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Mapping, NoReturn, Sequence

from pipelines.paths import DBT_PROJECT_DIR, Paths
from pipelines.priority import lower_this_thread

# dbt must not try to reach the network (usage statistics): the pipeline runs offline, and the attempt costs seconds.
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# dbt's own log file keeps one line per node; its debug level (every SQL statement) costs seconds per run.
os.environ.setdefault("DBT_LOG_LEVEL_FILE", "info")
# What shapes the parsed project besides its files and vars: a loaded project serves a command only if these match.
PROJECT_ENV = ("DBT_PROJECT_DIR", "DBT_PROFILES_DIR", "DBT_TARGET_PATH", "ICP_WAREHOUSE", "ICP_SCORING_DB")


def dbt_executable() -> str:
    """The dbt beside this Python (the project's venv), so that no activated shell is needed."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def dbt_vars() -> dict[str, Any]:
    """dbt vars from icp.yaml, so that dbt and the scoring stage share one configuration."""
    from pipelines.config import load_config

    cfg = load_config()
    return {"engagement_half_life_days": cfg.scoring.engagement_half_life_days,
            "engagement_window_days": cfg.scoring.engagement_window_days}


def project_load(paths: Paths) -> dict[str, Any]:
    """The request that parses the dbt project as the refresh's dbt step runs it in this home."""
    target = str(paths.dbt_target)
    env = {**os.environ, "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR), "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
           "DBT_TARGET_PATH": target, "DBT_LOG_PATH": target, "DBT_LOG_FORMAT": "json",
           **paths.dbt_env}
    # No manifest.json in the home's target folder: Dagster reads the project's own (dbt_assets.ensure_manifest).
    return {"load": True, "args": [dbt_executable(), "parse", "--no-write-json", "--vars", json.dumps(dbt_vars())],
            "env": env, "cwd": str(DBT_PROJECT_DIR)}


class PrestartedDbt:
    """One waiting dbt process, handed out by `popen` in place of starting a new one."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)
        self._loading = False

    def load_project(self, paths: Paths) -> None:
        """Have the waiting process parse the project for this home now (once; nothing when it is gone)."""
        if self._proc is None or self._loading:
            return
        self._loading = True
        try:
            self._proc.stdin.write(json.dumps(project_load(paths)).encode() + b"\n")
            self._proc.stdin.flush()
        except OSError:  # the waiting process has died: popen starts a new one
            pass

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
        """Stop an unused waiting process (it holds no state but a parsed project)."""
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


def load_waiting(paths: Paths) -> None:
    """Have the prestarted process, if any, parse the project for this home (see PrestartedDbt.load_project)."""
    if _waiting is not None:
        _waiting.load_project(paths)


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


def _shape(request: Mapping[str, Any]) -> tuple:
    """What a request's project depends on besides its files: folders, warehouse and vars."""
    args = list(request["args"])
    vars_arg = args[args.index("--vars") + 1] if "--vars" in args[:-1] else None
    env = request["env"]
    return (os.path.realpath(request["cwd"]), vars_arg,
            *(os.path.realpath(env[k]) if env.get(k) else None for k in PROJECT_ENV))


def _enter(request: Mapping[str, Any]) -> None:
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])


def _parse(runner: type, args: list[str]) -> Any:
    """The project parsed by `dbt <args>` (None when that failed), in a thread of low priority: the ingest runs
    meanwhile, and its DuckDB gets the CPU first (1.2 cpu-seconds, 3.5 in a new home). Its console output is not
    the command's."""
    parsed: list[Any] = [None]

    def parse() -> None:
        lower_this_thread()
        with contextlib.redirect_stdout(io.StringIO()):
            result = runner().invoke(args)
        parsed[0] = result.result if result.success else None

    thread = threading.Thread(target=parse, name="parse")
    thread.start()
    thread.join()
    return parsed[0]


def _serve() -> int:
    from dbt.cli.main import cli, dbtRunner  # the slow part: dbt, its adapter and their dependencies
    import dbt.adapters.duckdb  # noqa: F401

    loaded, manifest = None, None
    for line in sys.stdin:
        request = json.loads(line)
        _enter(request)
        if request.get("load"):
            loaded, manifest = _shape(request), _parse(dbtRunner, request["args"][1:])
            continue
        sys.argv = request["args"]
        if manifest is None or loaded != _shape(request):
            return cli()
        result = dbtRunner(manifest=manifest).invoke(request["args"][1:])
        _exit(0 if result.success else 2 if result.exception is not None else 1)  # dbt's own exit codes
    return 0


def _exit(code: int) -> NoReturn:
    """End a served command's process without tearing its interpreter down, which only frees dbt's objects (0.7 s
    after every dbt step at a million accounts): DuckDB's database is closed first (its checkpoint: no WAL is left
    for the next reader), the logs and the output flushed."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    DuckDBConnectionManager.close_all_connections()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(_serve())
