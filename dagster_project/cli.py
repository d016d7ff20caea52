"""The `icp` command line: demo data, a refresh through Dagster, status, and the one-shot `run`."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from pipelines.paths import Paths

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="ICP engine: learn your Ideal Customer Profile and rank target accounts, every night.")
console = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 200)  # logs and pipes get the table unwrapped

HomeOpt = typer.Option(None, "--home", help="ICP home (default: $ICP_HOME or ./.icp)")
LandingOpt = typer.Option(None, "--landing", help="landing folder (default: $ICP_LANDING_DIR or <home>/landing)")
ConfigOpt = typer.Option(None, "--config", help="icp.yaml to use (default: $ICP_CONFIG or ./icp.yaml)")
EngineOpt = typer.Option(None, "--engine", help="duckdb or spark (default: $ICP_ENGINE, else icp.yaml's engine, "
                         "else duckdb)")
MappingOpt = typer.Option(None, "--mapping", help="source mapping (default: $ICP_MAPPING, else <landing>/icp-mapping.yaml, "
                          "else the presets whose folders are in the landing folder)")


def _config_file(config: Optional[Path]) -> Optional[Path]:
    if config and not config.exists():
        raise typer.BadParameter(f"config file {config} does not exist", param_hint="--config")
    return config


def _engine(engine: Optional[str]) -> Optional[str]:
    from pipelines.config import ENGINES

    if engine is not None and engine not in ENGINES:
        raise typer.BadParameter(f"must be one of {', '.join(ENGINES)}", param_hint="--engine")
    return engine


@app.command()
def demo(landing: Path = typer.Option(..., "--landing", help="folder to write the landing files into"),
         accounts: int = typer.Option(5000, "--accounts", min=1, help="number of CRM accounts"),
         seed: int = typer.Option(7, "--seed", help="random seed (same seed, same files)"),
         realistic: bool = typer.Option(False, "--realistic", help="the harder mode: two ICPs, missing attributes, "
                                        "a decoy lead source that buys often and churns, weaker effects"),
         fmt: str = typer.Option("csv", "--format", help="csv or parquet"),
         truth: Optional[Path] = typer.Option(None, "--truth", help="where to write the planted ICP "
                                              "(default: <landing>_truth.csv beside the landing folder)")) -> None:
    """Write demo landing data that follows the landing contract, with a planted ICP."""
    from pipelines.demo import generate

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter("must be csv or parquet", param_hint="--format")
    with console.status(f"generating {accounts:,} demo accounts"):
        summary = generate(landing, accounts=accounts, seed=seed, fmt=fmt, truth=truth, realistic=realistic)
    for entity, n in summary.rows.items():
        out.print(f"  {entity:<24} {n:>12,} rows")
    out.print(f"landing data: {summary.landing}\nplanted ICP:  {summary.truth}")


def _refresh(paths: Paths, wait: Optional[float] = None, config: Optional[Path] = None,
             mapping: Optional[Path] = None, engine: Optional[str] = None) -> bool:
    from dagster_project.refresh import run_refresh
    from pipelines.mapping import MappingError, mapping_for

    try:
        found = mapping_for(paths.landing, mapping)
    except MappingError as exc:
        console.print(f"[red]refresh not started:[/red] {exc}", markup=True, highlight=False)
        return False

    interactive = sys.stderr.isatty() and not os.environ.get("CI")

    def progress(step: str, status: str, seconds: float) -> None:
        mark = "[green]ok[/green]" if status == "STEP_SUCCESS" else "[red]FAILED[/red]"
        if interactive or status != "STEP_SUCCESS":
            console.print(f"  {step:<56} {mark} {seconds:6.1f}s", highlight=False)

    console.print(f"refreshing {paths.home} from {paths.landing}"
                  + (f" through the mapping {found.source}" if found else ""), highlight=False)
    outcome = run_refresh(paths, wait_seconds=wait, on_event=progress, config=config, mapping=mapping, engine=engine)
    for warning in outcome.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    if outcome.success:
        console.print(f"refresh {outcome.run_id} published in {outcome.seconds:.1f}s")
        return True
    from pipelines.publish import publication_status

    console.print(f"[red]refresh failed[/red] in step [bold]{outcome.failed_step}[/bold] (run {outcome.run_id}); "
                  f"{publication_status(paths, outcome.run_id)}.", highlight=False)
    if outcome.error:
        console.print(outcome.error, markup=False, highlight=False)
    console.print(f"details: the run in the Dagster UI (make ui), and {outcome.log_file}")
    return False


@app.command()
def refresh(landing: Optional[Path] = LandingOpt, home: Optional[Path] = HomeOpt, config: Optional[Path] = ConfigOpt,
            mapping: Optional[Path] = MappingOpt,
            wait: Optional[float] = typer.Option(None, "--wait", help="seconds to wait for a refresh of the same home "
                                                 "that is running (default: schedule.lock_wait_seconds)"),
            engine: Optional[str] = EngineOpt) -> None:
    """Run the full refresh as the Dagster job icp_refresh; exit 1 on failure."""
    config = _config_file(config)
    paths = Paths.resolve(home, landing)
    if not paths.landing.is_dir():
        console.print(f"[red]landing folder {paths.landing} does not exist[/red] "
                      "(set --landing or ICP_LANDING_DIR, or create demo data with `icp demo`)")
        raise typer.Exit(1)
    if not _refresh(paths, wait, config, mapping, _engine(engine)):
        raise typer.Exit(1)


def _top_targets(paths: Paths, n: int = 10) -> None:
    import duckdb

    with duckdb.connect(str(paths.serving / "icp.duckdb"), read_only=True) as con:
        rows = con.execute(f"""SELECT rank, account_name, industry, employee_count, fit_score, fit_tier,
                                      priority_score, reasons FROM target_accounts ORDER BY rank LIMIT {n}""").fetchall()
    table = Table(title=f"Top {n} target accounts")
    for col in ("rank", "account", "industry", "employees", "fit", "tier", "priority", "why"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r[0]), r[1], r[2] or "", f"{r[3]:,}" if r[3] is not None else "", f"{r[4]:.1f}", r[5],
                      f"{r[6]:.1f}", r[7])
    out.print(table)


def _where(paths: Paths) -> None:
    out.print(f"results:  {paths.serving / 'icp.duckdb'}  (open read-only from any DuckDB client or BI tool)")
    out.print(f"parquet:  {paths.serving / 'parquet'}/<table>.parquet  (target_accounts_history/: by refresh_date)")
    out.print(f"Dagster:  make ui  ->  http://127.0.0.1:3000  (run history in {paths.dagster_home})")


@app.command()
def run(home: Optional[Path] = HomeOpt, landing: Optional[Path] = LandingOpt,
        accounts: int = typer.Option(5000, "--accounts", help="demo accounts to create when the landing folder is empty")) -> None:
    """Create demo data if the landing folder is empty, refresh, and show where the results are."""
    paths = Paths.resolve(home, landing)
    if not paths.landing.exists() or not any(paths.landing.iterdir()):
        console.print(f"landing folder {paths.landing} is empty: generating demo data ({accounts:,} accounts)")
        demo(landing=paths.landing, accounts=accounts, seed=7, fmt="csv", truth=paths.home / "demo_truth.csv",
             realistic=False)
    if not _refresh(paths):
        raise typer.Exit(1)
    _where(paths)
    _top_targets(paths)


@app.command()
def status(home: Optional[Path] = HomeOpt) -> None:
    """Show the last published refresh and where its outputs are."""
    import duckdb

    paths = Paths.resolve(home)
    db = paths.serving / "icp.duckdb"
    if not db.exists():
        out.print(f"no publication yet in {paths.home} (run `icp refresh`)")
        raise typer.Exit(1)
    with duckdb.connect(str(db), read_only=True) as con:
        r = con.execute("""SELECT refresh_id, started_at, published_at, rows_ingested, rows_rejected, model_version
                           FROM refreshes ORDER BY published_at DESC LIMIT 1""").fetchone()
        ev = con.execute("""SELECT auc, lift_top_vs_bottom, recall_top_30pct, n_test, value_auc,
                                   value_lift_top_vs_bottom, revenue_share_top_tier, chance_warning
                            FROM model_evaluation""").fetchone()
        n_targets = con.execute("SELECT count(*) FROM target_accounts").fetchone()[0]
    out.print(f"last refresh:   {r[0]}")
    out.print(f"published at:   {r[2]:%Y-%m-%d %H:%M:%S} UTC (took {(r[2] - r[1]).total_seconds():.0f}s)")
    out.print(f"rows ingested:  {r[3]:,} ({r[4]:,} rejected)")
    out.print(f"model:          {r[5]}")
    if ev:
        fmt = lambda v, p: "n/a" if v is None else format(v, p)  # noqa: E731
        out.print(f"backtest:       value AUC {fmt(ev[4], '.3f')}, tier A/D valuable {fmt(ev[5], '.1f')}x, tier A "
                  f"{fmt(ev[6], '.0%')} of new revenue; conversion AUC {fmt(ev[0], '.3f')}, tier A/D lift "
                  f"{fmt(ev[1], '.1f')}, recall in top 30% {fmt(ev[2], '.0%')} on {ev[3]:,} accounts")
        if ev[7]:
            out.print(f"warning:        {ev[7]}")
    out.print(f"target list:    {n_targets:,} accounts")
    _where(paths)


@app.command()
def explain(account_id: str = typer.Argument(..., help="the account's id (crm/accounts.account_id)"),
            home: Optional[Path] = HomeOpt,
            as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table")) -> None:
    """Explain one account's fit score: every attribute's contribution, tier, segment, engagement, priority."""
    import json

    from pipelines.explain import UnknownAccount, explain as explain_account

    paths = Paths.resolve(home)
    db = paths.serving / "icp.duckdb"
    if not db.exists():
        console.print(f"no publication yet in {paths.home} (run `icp refresh`)")
        raise typer.Exit(1)
    try:
        e = explain_account(db, account_id)
    except UnknownAccount as exc:
        console.print(f"[red]no account {exc.account_id!r}[/red] in {db}", highlight=False)
        if exc.closest:
            console.print("closest matches by name or id:")
            for i, name in exc.closest:
                console.print(f"  {i}  {name}", highlight=False, markup=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(e.as_dict(), default=str, indent=2))
        return
    term = Console(width=80)
    rank = f"#{e.rank:,} on the target list" if e.rank else "not on the target list"
    term.print(f"[bold]{e.account_name}[/bold] ({e.account_id}), {e.lifecycle}, {rank}", highlight=False)
    term.print(f"fit {e.fit_score:.1f} (tier {e.fit_tier}) · engagement {e.engagement_score:.1f} · "
               f"priority {e.priority_score:.1f}", highlight=False)
    term.print(f"segment: {e.segment} ({e.segment_kind})", highlight=False)
    if e.score_status != "scored":
        term.print(f"status: {e.score_status}: {e.status_reason}", highlight=False)
    table = Table(title=f"fit score = baseline + contributions ({e.model_version})", width=80)
    table.add_column("attribute", overflow="fold", ratio=2)
    table.add_column("this account", overflow="fold", ratio=3)
    table.add_column("points", justify="right", ratio=1)
    table.add_row("baseline", "", f"{e.baseline:.1f}")
    for c in e.contributions:
        table.add_row(c.attribute, c.level, f"{c.points:+.1f}")
    rebuilt = e.baseline + sum(c.points for c in e.contributions)
    clipped = " (clipped to 0..100)" if abs(rebuilt - e.fit_score) > 0.05 else ""
    table.add_row("[bold]fit score[/bold]", clipped.strip(), f"[bold]{e.fit_score:.1f}[/bold]")
    term.print(table)


@app.command()
def bench(home: Optional[Path] = HomeOpt,
          sizes: str = typer.Option("100000,1000000", "--sizes", help="account counts to measure, comma-separated"),
          engine: Optional[str] = EngineOpt) -> None:
    """Benchmark full refreshes against the floor of loading the landing files once (see README)."""
    from benchmarks.refresh import STAGES, run_bench

    paths = Paths.resolve(home)
    report = run_bench(paths.home, [int(s) for s in sizes.split(",")], echo=lambda m: console.print(m, highlight=False),
                       engine=_engine(engine) or "duckdb")
    table = Table(title=f"icp bench ({report['engine']})")
    for col in ("accounts", "landing MB", "floor s before/after", "refresh s", "x floor", "peak RSS MB", *STAGES,
                "cpu probe s before/after"):
        table.add_column(col, justify="right")
    for r in report["sizes"]:
        table.add_row(f"{r['accounts']:,}", f"{r['landing_mb']:,.0f}", "{:.1f}/{:.1f}".format(*r["floor_runs_seconds"]),
                      f"{r['refresh_seconds']:.1f}", f"{r['ratio_to_floor']:.1f}", f"{r['peak_rss_mb']:,.0f}",
                      *(f"{r['stages'][s]:.1f}" for s in STAGES), "{:.2f}/{:.2f}".format(*r["cpu_probe_seconds"]))
    out.print(table)
    for r in report["sizes"]:
        out.print(f"{r['accounts']:,} accounts, peak RSS MB per stage: "
                  + ", ".join(f"{s} {mb:,.0f}" for s, mb in r["stage_peak_rss_mb"].items()))
    out.print(f"fixed overhead (100 accounts): {report['fixed_overhead_seconds']:.1f}s "
              "(cpu probe {:.2f}/{:.2f}s)".format(*report["fixed_overhead_cpu_probe_seconds"]))
    if "growth_largest_vs_smallest" in report:
        out.print(f"largest / smallest refresh time: {report['growth_largest_vs_smallest']:.1f}x")
    out.print(f"written to {paths.home / 'bench' / 'latest.json'}")


@app.command()
def prepare() -> None:
    """Parse the dbt project into the manifest Dagster reads: `make setup` does it; again after changing dbt/."""
    from dagster_project.dbt_settings import DBT_PROJECT, prepare_manifest

    prepare_manifest()
    out.print(f"dbt manifest: {DBT_PROJECT.manifest_path}")


def main() -> None:
    """The `icp` console script."""
    app()


if __name__ == "__main__":
    main()
