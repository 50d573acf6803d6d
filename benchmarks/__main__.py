"""Run the benchmarks: ``python -m benchmarks [NAME]`` (NAME: ``charts``, ``ibkr``...; default all).

Prints a table per benchmark and writes ``benchmarks/results/<name>.json`` and ``<name>.md`` with the
machine it ran on. Exits 1 when a benchmark misses its target.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

import matplotlib
import mplfinance
import numpy
import pandas
import talib

import benchmarks
from benchmarks import RESULTS


def _machine() -> dict[str, object]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        lines = cpuinfo.read_text(encoding="utf-8").splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu": model or platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "matplotlib": matplotlib.__version__,
        "mplfinance": mplfinance.__version__,
        "talib": talib.__version__,
    }


def _modules(selected: str | None) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    if selected is None:
        return names
    wanted = selected if selected.startswith("bench_") else f"bench_{selected}"
    if wanted not in names:
        known = ", ".join(n.removeprefix("bench_") for n in names)
        raise SystemExit(f"unknown benchmark {selected!r}; known: {known}")
    return [wanted]


def _table(result: dict[str, object]) -> list[str]:
    cases = result["cases"]
    assert isinstance(cases, dict)
    if all("wall_s" in s for s in cases.values()):  # whole runs: wall time and where it went
        header: tuple[str, ...] = ("case", "wall s", "ms per execution", "outside charts and indicators", "n")
        rows = [
            (
                name,
                f"{s['wall_s']:.1f}",
                f"{s['ms_per_execution']:.1f}",
                f"{s['outside_charts_and_indicators']:.1%}",
                str(s["n"]),
            )
            for name, s in cases.items()
        ]
    elif all("p99_ms" in s for s in cases.values()):  # a load test: tail latency and errors
        header = ("case", "p50 ms", "p99 ms", "errors", "n")
        rows = [
            (name, f"{s['p50_ms']:.1f}", f"{s['p99_ms']:.1f}", str(s["errors"]), str(s["n"]))
            for name, s in cases.items()
        ]
    elif all("cold_kb" in s for s in cases.values()):  # pages: server time and the weight of a cold load
        header = ("case", "median ms", "p95 ms", "max ms", "cold load KB", "n")
        rows = [
            (
                name,
                f"{s['median_ms']:.1f}",
                f"{s['p95_ms']:.1f}",
                f"{s['max_ms']:.1f}",
                f"{s['cold_kb']:.1f}",
                str(s["n"]),
            )
            for name, s in cases.items()
        ]
    else:
        header = ("case", "median ms", "p10 ms", "p90 ms", "n")
        rows = [
            (name, f"{s['median_ms']:.3f}", f"{s['p10_ms']:.3f}", f"{s['p90_ms']:.3f}", str(s["n"]))
            for name, s in cases.items()
        ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first, *numbers = cells
        padded = [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(numbers, widths[1:], strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(["-" * (widths[0] + 2)] + ["-" * (w + 1) + ":" for w in widths[1:]]) + "|"
    return [line(header), rule, *(line(row) for row in rows)]


def _markdown(result: dict[str, object], machine: dict[str, object]) -> str:
    ratios = result["ratio"]
    assert isinstance(ratios, dict)
    verdict = "met" if result["passed"] else "MISSED"
    parts = [
        f"# {result['title']}",
        "",
        f"Run with `make bench` (`.venv/bin/python -m benchmarks {result['name']}`).",
        "",
        f"Setup: {result['setup']}.",
        "",
        *_table(result),
        "",
        *(f"- {name}: **{value}**" for name, value in ratios.items()),
        f"- target: {result['target']}: **{verdict}**",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()),
        "",
    ]
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    """Run the selected benchmarks, print and write their results; return 1 if a target was missed."""
    machine = _machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    missed = []
    for module_name in _modules(argv[0] if argv else None):
        module = importlib.import_module(f"benchmarks.{module_name}")
        print(f"running {module_name} ...", flush=True)
        result = module.run()
        name = result["name"]
        (RESULTS / f"{name}.json").write_text(
            json.dumps({**result, "machine": machine}, indent=2) + "\n", encoding="utf-8"
        )
        (RESULTS / f"{name}.md").write_text(_markdown(result, machine), encoding="utf-8")
        print(f"\n{result['title']}")
        print("\n".join(_table(result)))
        for ratio_name, value in result["ratio"].items():
            print(f"  {ratio_name}: {value}")
        print(f"  target: {result['target']}: {'met' if result['passed'] else 'MISSED'}\n")
        if not result["passed"]:
            missed.append(name)
    if missed:
        print(f"targets missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
