"""Read views for the CLI, the API and the pages: positions, orders, trades, signals, status, executions."""
