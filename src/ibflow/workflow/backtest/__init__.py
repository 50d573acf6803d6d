"""Backtests: a strategy's decisions replayed on history through the live executor, in a database of its own.

``replay`` drives the manual clock, the periodic jobs and the executor; ``results`` turns the backtest's
database into its statistics; ``saved`` keeps the summary, equity curve and trades in the main database.
"""
