"""Risk before every entry: the checks, sizing, the kill switch and the run-time limits."""
