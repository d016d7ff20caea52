"""ICP learning: value labels, an explainable fit scorecard, segments and the backtest, fitted in Python on the
accounts with an outcome; every account is scored from the fitted tables by dbt's scoring models (dbt/models/scoring)."""
