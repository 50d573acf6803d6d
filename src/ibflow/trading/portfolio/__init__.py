"""The portfolio: valuation, P&L, statistics and snapshots."""
