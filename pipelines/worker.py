"""The refresh's second Python process, where the pandas, scikit-learn, pandera and Great Expectations work runs.

Those libraries (and the chart renderer) cost about 4 cpu-seconds to load. `start` launches the worker when the
ingest begins; it loads them in a thread of low priority (pipelines/priority.py), on the CPU that DuckDB's ingest
leaves idle: ingest at a million accounts took 0.0 to 0.5 s longer for it, against about 2 s at normal priority.
(Loaded in the refresh's own process, they slowed the ingest by more than they cost: a thread of low priority
holding the interpreter lock stalls the thread that hands work to DuckDB.) The steps then hand their work over with
`call` and wait for it; the worker runs one call at a time, with the caller's ICP_ settings, and lives as long as the
process that started it.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from pipelines.priority import lower_this_thread

# In the order the steps need them: pandera's check, scoring, Great Expectations, the report.
LIBRARIES = ("pandas", "pandera.pandas", "schemas.account_features", "pipelines.icp.model", "great_expectations",
             "pipelines.quality", "pipelines.report")
PREFIX = "ICP_"  # the settings a call carries (pipelines/paths.py, pipelines/config.py)

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


def start() -> None:
    """Start the worker, if this process has none, and have it load the libraries in the background."""
    _ensure(preload=True)


def call(function: str, *args: Any) -> Any:
    """`function(*args)` in the worker (started now if there is none), with this process's ICP_ environment
    variables; returns its result or raises its exception. `function` is named ("package.module.function"), so
    that this process need not import its module; the arguments and the result travel by pickle."""
    settings = {k: v for k, v in os.environ.items() if k.startswith(PREFIX)}
    return _ensure(preload=False).submit(_run, settings, function, *args).result()


def stop() -> None:
    """Stop the worker (a later `call` starts another)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


def _ensure(preload: bool) -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_follow_parent)
            if preload:
                _pool.submit(_preload)
        return _pool


def _follow_parent() -> None:
    """In the worker: end it when the process that started it ends, even without a word (the `icp` command ends
    with os._exit)."""
    parent = multiprocessing.parent_process()

    def wait() -> None:
        parent.join()
        os._exit(0)

    if parent is not None:
        threading.Thread(target=wait, name="follow-parent", daemon=True).start()


def _preload() -> None:
    """In the worker: import LIBRARIES and start the chart renderer, in a thread of low priority."""

    def load() -> None:
        lower_this_thread()
        for name in LIBRARIES:
            __import__(name)
        from pipelines import charts

        charts.warm_up()

    threading.Thread(target=load, name="preload", daemon=True).start()


def _run(settings: dict[str, str], function: str, *args: Any) -> Any:
    for name in [k for k in os.environ if k.startswith(PREFIX) and k not in settings]:
        del os.environ[name]
    os.environ.update(settings)
    module, name = function.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(*args)
