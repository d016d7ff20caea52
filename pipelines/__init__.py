"""Domain logic of the ICP engine: ingest, demo data, ICP learning and scoring, publish.

Nothing here imports Dagster: the same functions serve the Dagster assets, the CLI and the tests.
"""
