"""Daily bar files: the documented columns are read; a bad file is refused in one line naming file and row."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from ibflow.brokers.paper.market.bar_files import parse_bars, read_bar_folder, sample_bars
from ibflow.core.errors import ConfigurationError

GOOD = (
    "Date,Open,High,Low,Close,Adj Close,Volume\n2017-01-03,100,101,99,100.5,1,5000\n2017-01-04,1,2,1,2,1,7\n"
)


def test_the_columns_are_read_by_name_in_any_order_and_case() -> None:
    text = "volume,close,LOW,High,open,date\n5000,100.5,99,101,100,2017-01-03\n"
    [bar] = parse_bars(text, "x.csv")
    assert (bar.day, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        date(2017, 1, 3),
        Decimal(100),
        Decimal(101),
        Decimal(99),
        Decimal("100.5"),
        5000,
    )


def test_an_open_outside_its_low_high_range_widens_the_range() -> None:
    [bar] = parse_bars("Date,Open,High,Low,Close,Volume\n2015-03-05,209.42,210.80,209.85,210.46,1\n", "SPY")
    assert (bar.low, bar.high) == (Decimal("209.42"), Decimal("210.80"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Date,Open,High,Low,Volume\n", "AAPL.csv: missing column(s) close"),
        ("Date,Open,High,Low,Close,Volume\n", "AAPL.csv: no bars"),
        (GOOD + "2017/01/05,1,2,1,2,1,7\n", "AAPL.csv line 4: date '2017/01/05' is not YYYY-MM-DD"),
        (GOOD + "2017-01-04,1,2,1,2,1,7\n", "AAPL.csv line 4: date 2017-01-04 does not follow 2017-01-04"),
        (GOOD + "2017-01-05,1,2,x,2,1,7\n", "AAPL.csv line 4: low 'x' is not a number"),
        (GOOD + "2017-01-05,0,2,1,2,1,7\n", "AAPL.csv line 4: open 0 must be a positive price"),
        (GOOD + "2017-01-05,1,2,3,2,1,7\n", "AAPL.csv line 4: low 3 is above high 2"),
        (GOOD + "2017-01-05,1,2,1,2,1,-7\n", "AAPL.csv line 4: volume -7 must be a whole number"),
        (GOOD + "2017-01-05,1,2\n", "AAPL.csv line 4: expected 7 columns, got 3"),
    ],
)
def test_a_bad_file_is_refused_with_the_file_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_bars(text, "AAPL.csv")
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_folder_holds_one_file_per_symbol_named_by_its_file(tmp_path: Path) -> None:
    (tmp_path / "AAPL-2017.csv").write_text(GOOD)
    (tmp_path / "spy.csv").write_text(GOOD)
    (tmp_path / "notes.txt").write_text("not bars")
    assert sorted(read_bar_folder(tmp_path)) == ["AAPL", "SPY"]
    (tmp_path / "aapl.csv").write_text(GOOD)
    with pytest.raises(ConfigurationError, match="two files hold AAPL"):
        read_bar_folder(tmp_path)


def test_parquet_and_missing_paths_are_refused_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "AAPL.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigurationError, match="Parquet needs pyarrow, which is not installed"):
        read_bar_folder(tmp_path)
    with pytest.raises(ConfigurationError, match="no such file or folder"):
        read_bar_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigurationError, match=r"no \.csv files"):
        read_bar_folder(tmp_path / "empty")


def test_the_bundled_samples_hold_the_real_history_of_four_symbols() -> None:
    samples = sample_bars()
    spans = {symbol: (len(bars), bars[0].day, bars[-1].day) for symbol, bars in samples.items()}
    assert spans == {
        "AAPL": (3379, date(2004, 8, 19), date(2018, 1, 19)),
        "GOOG": (3379, date(2004, 8, 19), date(2018, 1, 19)),
        "INTC": (2335, date(1995, 1, 3), date(2004, 4, 8)),
        "SPY": (2519, date(2007, 12, 31), date(2017, 12, 29)),
    }
    aapl = samples["AAPL"][-1]
    assert (aapl.open, aapl.close) == (Decimal("178.610001"), Decimal("178.460007"))
