"""`icp bench`: timed refreshes at scale (results in docs/benchmarks.md)."""
