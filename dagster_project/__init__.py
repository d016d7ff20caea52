"""Orchestration of the ICP engine: Dagster assets, checks, jobs, schedules and the `icp` CLI."""
