"""Real daily bars shipped as sample data for backtests (``ibflow backtest`` uses them by default).

One CSV per symbol, named ``SYMBOL-FIRST-LAST.csv``, with the columns
``Date,Open,High,Low,Close,Adj Close,Volume`` as Yahoo Finance publishes them (split-adjusted prices;
``Adj Close`` is read but not used). Source: the example data of mplfinance
(github.com/matplotlib/mplfinance, ``examples/data/``, commit 493811d); the same files as
``tests/data/ohlcv``.
docs/backtest.md lists their ranges.
"""
