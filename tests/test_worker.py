"""The worker process (pipelines/worker.py): results, errors and ICP_ settings cross over, and it ends with the
process that started it."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from pipelines import worker
from pipelines.config import ConfigError
from pipelines.paths import PROJECT_ROOT


def test_a_call_runs_in_the_worker_with_the_callers_icp_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert worker.call("os.getpid") != os.getpid()
    monkeypatch.setenv("ICP_HOME", "/nowhere/home")
    assert worker.call("os.getenv", "ICP_HOME") == "/nowhere/home"
    monkeypatch.delenv("ICP_HOME")
    assert worker.call("os.getenv", "ICP_HOME") is None


def test_an_error_in_the_worker_is_raised_to_the_caller(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        worker.call("pipelines.config.load_config", tmp_path / "icp.yaml")


def test_the_worker_ends_with_the_process_that_started_it() -> None:
    script = "import os; from pipelines import worker; print(worker.call('os.getpid'), flush=True); os._exit(0)"
    child = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=60, check=True)
    pid = int(child.stdout)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.1)
    pytest.fail(f"the worker {pid} outlived the process that started it")


def test_low_priority_is_the_calling_threads_only() -> None:
    """The worker's library loading and dbt's parse run 10 below the refresh's priority beside the ingest; the
    rest of the process keeps its priority."""
    import threading

    from pipelines.priority import NICENESS, lower_this_thread

    seen: dict[str, int] = {}

    def background() -> None:
        before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        lower_this_thread()
        seen["thread"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) - before

    thread = threading.Thread(target=background)
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread.start()
    thread.join()
    assert seen["thread"] == min(NICENESS, 19 - main)  # 19: the lowest priority there is
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main
