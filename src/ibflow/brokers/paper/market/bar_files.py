"""Daily bars from files, one file per symbol, for the historical market of backtests.

A CSV file has a header row and one row per day with the columns ``Date`` (``YYYY-MM-DD``), ``Open``,
``High``, ``Low``, ``Close`` and ``Volume`` (any order, case-insensitive; others such as ``Adj Close`` are
ignored). The symbol is the file name up to its first ``-`` or ``.`` (``AAPL-20040819-20180120.csv`` and
``aapl.csv`` both hold AAPL). Dates must rise strictly; prices must be positive with ``Low <= High`` (a low or
high that leaves out the open or the close is widened to include them); volume must be a whole number, not
negative. Any problem raises ``ConfigurationError`` naming the file
and the line, so a command can print it on one line. Parquet files are refused with the reason: reading them
needs pyarrow, which ibflow does not install.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from ibflow.core.errors import ConfigurationError

REQUIRED_COLUMNS = ("date", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class DayBar:
    """One day of a symbol as the file gives it."""

    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


def symbol_of(path: Path) -> str:
    """Return the symbol a file holds, from its name."""
    stem = path.name.split(".")[0].split("-")[0]
    return stem.strip().upper()


def read_bar_file(path: Path) -> list[DayBar]:
    """Read and check one file of daily bars; ``ConfigurationError`` says what is wrong and where."""
    if path.suffix.lower() == ".parquet":
        raise ConfigurationError(f"{path}: Parquet needs pyarrow, which is not installed; convert it to CSV")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read it ({exc})") from exc
    return parse_bars(text, str(path))


def parse_bars(text: str, name: str) -> list[DayBar]:
    """Parse the CSV text of one symbol's daily bars (``name`` says where it came from in errors)."""
    rows = csv.reader(text.splitlines())
    header = [column.strip().lower() for column in next(rows, [])]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ConfigurationError(
            f"{name}: missing column(s) {', '.join(missing)}; need {', '.join(REQUIRED_COLUMNS)}"
        )
    where = {column: header.index(column) for column in REQUIRED_COLUMNS}
    bars: list[DayBar] = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        bar = _bar(row, where, f"{name} line {line}")
        if bars and bar.day <= bars[-1].day:
            raise ConfigurationError(
                f"{name} line {line}: date {bar.day} does not follow {bars[-1].day}; sort the rows by date"
            )
        bars.append(bar)
    if not bars:
        raise ConfigurationError(f"{name}: no bars")
    return bars


def _bar(row: list[str], where: dict[str, int], at: str) -> DayBar:
    if len(row) < len(where) or max(where.values()) >= len(row):
        raise ConfigurationError(f"{at}: expected {max(where.values()) + 1} columns, got {len(row)}")
    cell = {column: row[index].strip() for column, index in where.items()}
    try:
        day = date.fromisoformat(cell["date"])
    except ValueError:
        raise ConfigurationError(f"{at}: date {cell['date']!r} is not YYYY-MM-DD") from None
    prices = {}
    for column in ("open", "high", "low", "close"):
        try:
            prices[column] = Decimal(cell[column])
        except InvalidOperation:
            raise ConfigurationError(f"{at}: {column} {cell[column]!r} is not a number") from None
        if not prices[column].is_finite() or prices[column] <= 0:
            raise ConfigurationError(f"{at}: {column} {cell[column]} must be a positive price")
    try:
        volume = Decimal(cell["volume"])
    except InvalidOperation:
        raise ConfigurationError(f"{at}: volume {cell['volume']!r} is not a number") from None
    if not volume.is_finite() or volume < 0 or volume != volume.to_integral_value():
        raise ConfigurationError(f"{at}: volume {cell['volume']} must be a whole number, not negative")
    if prices["low"] > prices["high"]:
        raise ConfigurationError(f"{at}: low {cell['low']} is above high {cell['high']}")
    # Published data has rows whose open lies a little outside its low-high range (SPY on 2015-03-05):
    # the range is widened to hold the open and the close, since a price that traded is in the day's range.
    low = min(prices["low"], prices["open"], prices["close"])
    high = max(prices["high"], prices["open"], prices["close"])
    return DayBar(day, prices["open"], high, low, prices["close"], int(volume))


def read_bar_folder(path: Path) -> dict[str, list[DayBar]]:
    """Read every ``.csv`` (or a single file) at ``path``: the bars of each symbol, checked."""
    if not path.exists():
        raise ConfigurationError(f"{path}: no such file or folder")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if _is_bar_file(p))
    if not files:
        raise ConfigurationError(f"{path}: no .csv files of daily bars")
    found: dict[str, list[DayBar]] = {}
    for file in files:
        symbol = symbol_of(file)
        if symbol in found:
            raise ConfigurationError(f"{path}: two files hold {symbol}; keep one file per symbol")
        found[symbol] = read_bar_file(file)
    return found


def _is_bar_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in (".csv", ".parquet")


def sample_bars() -> dict[str, list[DayBar]]:
    """Return the bundled sample data (real AAPL, GOOG, SPY and INTC history)."""
    folder = resources.files("ibflow.brokers.paper.market.samples")
    found: dict[str, list[DayBar]] = {}
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".csv"):
            found[symbol_of(Path(item.name))] = parse_bars(item.read_text(encoding="utf-8"), item.name)
    return found
