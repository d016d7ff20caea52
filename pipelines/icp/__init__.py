"""ICP learning and scoring: value labels, an explainable fit scorecard, segments, engagement, backtest."""
