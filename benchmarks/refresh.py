"""`icp bench`: how fast and how lean a full refresh is, against the floor of loading the landing files once.

For each size: demo landing data (generated once, cached under <home>/bench/data), the floor (DuckDB loading
every landing file into a fresh database file, nothing else; timed just before and just after the refresh, so
that the ratio compares them at the machine's speed of the moment), a full `icp refresh` in a subprocess with the
peak resident memory of its whole process tree, the time of each stage from the Dagster run, and the fixed
overhead (a refresh of 100 accounts). Results print as a table and are written to <home>/bench/*.json.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import psutil

from pipelines.demo import generate
from pipelines.landing_files import EXTENSIONS
from pipelines.sql import q
from pipelines.paths import Paths

STAGES = {  # stage -> how its Dagster step keys start
    "ingest": ("ingest",),
    "dbt": ("icp_dbt_models",),
    "checks": ("marts__account_features", "scoring__target_accounts_published"),
    "fit": ("icp_fit",),
    "scoring": ("icp_dbt_scoring",),
    "evaluation": ("icp_evaluation",),
    "publish": ("serving__publication",),
    "report": ("serving__report",),
}


@dataclass
class SizeResult:
    accounts: int
    landing_mb: float
    floor_runs_seconds: tuple[float, float]  # just before and just after the refresh
    refresh_seconds: float
    peak_rss_mb: float
    stages: dict[str, float] = field(default_factory=dict)
    stage_peak_rss_mb: dict[str, float] = field(default_factory=dict)  # the process tree's peak during each stage
    success: bool = True
    cpu_probe_seconds: tuple[float, float] = (0.0, 0.0)  # before the first floor, after the second

    @property
    def floor_seconds(self) -> float:
        return sum(self.floor_runs_seconds) / 2

    @property
    def ratio_to_floor(self) -> float:
        return self.refresh_seconds / self.floor_seconds if self.floor_seconds else float("nan")


def landing_for(bench_dir: Path, accounts: int) -> Path:
    """Cached demo landing data of this size (CSV, seed 1)."""
    landing = bench_dir / "data" / f"{accounts}" / "landing"
    done = landing.parent / "complete"
    if not done.exists():
        generate(landing, accounts=accounts, seed=1, fmt="csv", truth=landing.parent / "truth.csv")
        done.write_text(datetime.now(timezone.utc).isoformat())
    return landing


def cpu_probe_seconds() -> float:
    """How fast one core is right now: the median of three runs of a fixed pure-Python loop (about 0.4 s on the
    development machine at its usual speed). On a shared machine it drifts by half and more within minutes, and
    every time measured with it: compare runs at similar probe values."""
    runs = []
    for _ in range(3):
        start, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        runs.append(time.perf_counter() - start)
    return sorted(runs)[1]


def floor_seconds(landing: Path) -> float:
    """DuckDB loading every landing file once into a fresh database file, nothing else."""
    files = sorted(p for p in landing.rglob("*") if p.is_file() and p.name.lower().endswith(EXTENSIONS))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        with duckdb.connect(str(Path(tmp) / "floor.duckdb")) as con:
            for i, path in enumerate(files):
                con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv({q(str(path))})")
        return time.perf_counter() - start


def _sample_rss(proc: psutil.Process, stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    """Append (wall-clock time, RSS bytes of the process tree) every 50 ms until `stop`."""
    while not stop.is_set():
        try:
            tree = [proc, *proc.children(recursive=True)]
            samples.append((time.time(), sum(p.memory_info().rss for p in tree if p.is_running())))
        except psutil.Error:
            pass
        stop.wait(0.05)


def timed_refresh(home: Path, landing: Path, engine: str = "duckdb") -> tuple[bool, float, list[tuple[float, int]], str]:
    """Run `icp refresh` on `engine` as a subprocess; returns (success, seconds, RSS samples of its tree (_sample_rss),
    output)."""
    icp = str(Path(sys.executable).with_name("icp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICP_", "DAGSTER_"))}
    start = time.perf_counter()
    proc = subprocess.Popen([icp, "refresh", "--home", str(home), "--landing", str(landing), "--engine", engine],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    stop, samples = threading.Event(), []
    watcher = threading.Thread(target=_sample_rss, args=(psutil.Process(proc.pid), stop, samples), daemon=True)
    watcher.start()
    out = proc.communicate()[0]
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    return proc.returncode == 0, seconds, samples, out


def _stage_windows(home: Path) -> list[tuple[str, float, float]]:
    """(stage, start, end) of every step of the home's latest run, from Dagster's step statistics."""
    from dagster import DagsterInstance

    with Paths.resolve(home).exported(), DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        stats = instance.get_run_step_stats(run.run_id)
    windows = []
    for s in stats:
        stage = next((k for k, prefixes in STAGES.items() if s.step_key.startswith(prefixes)), None)
        if stage and s.start_time and s.end_time:
            windows.append((stage, s.start_time, s.end_time))
    return windows


def stage_seconds(home: Path) -> dict[str, float]:
    """Seconds per stage of the home's latest run."""
    out = {stage: 0.0 for stage in STAGES}
    for stage, start, end in _stage_windows(home):
        out[stage] += end - start
    return out


def stage_peaks(home: Path, samples: list[tuple[float, int]]) -> dict[str, float]:
    """The process tree's peak RSS (MB) during each stage of the home's latest run."""
    out = {stage: 0.0 for stage in STAGES}
    for stage, start, end in _stage_windows(home):
        inside = [rss for t, rss in samples if start <= t <= end]
        out[stage] = max(out[stage], round(max(inside, default=0) / 1e6, 1))
    return out


def _forget_publications(home: Path) -> None:
    """Remove the home's earlier publications (not its Dagster history or dbt state), so that every bench run
    measures the same work: target_accounts_history would otherwise grow by one refresh each run."""
    paths = Paths.resolve(home)
    if paths.serving.is_symlink():
        paths.serving.unlink()
    shutil.rmtree(paths.publications, ignore_errors=True)


def measure(bench_dir: Path, accounts: int, echo=print, engine: str = "duckdb") -> SizeResult:
    landing = landing_for(bench_dir, accounts)
    size_mb = sum(p.stat().st_size for p in landing.rglob("*") if p.is_file()) / 1e6
    echo(f"{accounts:,} accounts: floor ...")
    probe = cpu_probe_seconds()
    before = floor_seconds(landing)
    echo(f"{accounts:,} accounts: refresh ...")
    home = bench_dir / "homes" / (f"{accounts}" if engine == "duckdb" else f"{engine}-{accounts}")
    _forget_publications(home)
    ok, seconds, samples, out = timed_refresh(home, landing, engine)
    if not ok:
        echo(out[-2000:])
    echo(f"{accounts:,} accounts: floor again ...")
    after = floor_seconds(landing)
    return SizeResult(accounts, round(size_mb, 1), (round(before, 2), round(after, 2)), round(seconds, 2),
                      round(max((rss for _, rss in samples), default=0) / 1e6, 1),
                      {k: round(v, 2) for k, v in stage_seconds(home).items()}, stage_peaks(home, samples), ok,
                      (round(probe, 2), round(cpu_probe_seconds(), 2)))


def run_bench(home: Path, sizes: list[int], echo=print, engine: str = "duckdb") -> dict:
    """Measure every size and the fixed overhead of refreshes on `engine`; write
    <home>/bench/bench-<timestamp>.json and latest.json."""
    bench_dir = home / "bench"
    results = [measure(bench_dir, n, echo, engine) for n in sizes]
    overhead = measure(bench_dir, 100, echo, engine)
    report = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": engine,
        "machine": {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
        "sizes": [{**asdict(r), "floor_seconds": round(r.floor_seconds, 2),
                   "ratio_to_floor": round(r.ratio_to_floor, 2)} for r in results],
        "fixed_overhead_seconds": overhead.refresh_seconds,
        "fixed_overhead_cpu_probe_seconds": overhead.cpu_probe_seconds,
        "fixed_overhead_stages": overhead.stages,
    }
    if len(results) >= 2:
        report["growth_largest_vs_smallest"] = round(results[-1].refresh_seconds / results[0].refresh_seconds, 2)
    bench_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2)
    (bench_dir / f"bench-{report['measured_at'].replace(':', '')}.json").write_text(text)
    (bench_dir / "latest.json").write_text(text)
    return report
