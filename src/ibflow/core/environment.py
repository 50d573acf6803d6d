"""What a user can get wrong in ibflow's environment: misspelled names, bad ``.env`` lines, unusable folders.

Settings ignore names they do not know, so ``IBFLOW_MAX_OPEN_POSITION=2`` would silently leave the default
in effect; these checks turn such mistakes into one warning each, naming the closest valid variable. A
``.env`` line that is not ``NAME=value`` is named by its line number only (the line may hold a secret).
"""

from __future__ import annotations

import difflib
import io
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from dotenv.parser import parse_stream
from pydantic_settings import BaseSettings

from ibflow.core.errors import ConfigurationError

PREFIX = "IBFLOW_"
OTHER_NAMES = frozenset(
    {
        "IBFLOW_FAULTPOINT",  # crash tests: kill the process at a named point
        "IBFLOW_SOAK_SECONDS",  # make soak
        "IBFLOW_BUDGETS",  # .ci/tiers: warn instead of failing a tier over its time budget
        "IBFLOW_REQUIRE_SERVICES",  # tests: a skipped service test fails
        "IBFLOW_TEST_PG_URL",  # tests: the PostgreSQL server to use
    }
)
"""Variables read outside the settings classes (tests, fault injection, CI); known, so never warned about."""

log = logging.getLogger(__name__)


def known_names(areas: Iterable[type[BaseSettings]]) -> frozenset[str]:
    """Return every ``IBFLOW_*`` variable the settings ``areas`` read, with ``OTHER_NAMES``."""
    names = {PREFIX + field.upper() for area in areas for field in area.model_fields}
    return frozenset(names) | OTHER_NAMES


def unknown_names(present: Iterable[str], known: frozenset[str], *, where: str = "") -> list[str]:
    """Return one warning per ``IBFLOW_*`` name in ``present`` that ibflow does not read."""
    notices = []
    for name in sorted({n for n in present if n.upper().startswith(PREFIX)}):
        if name.upper() in known:
            continue
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.75)
        hint = f"did you mean {close[0]}?" if close else "no ibflow setting has a name close to it"
        notices.append(f"{name}{where} is not an ibflow setting and is ignored; {hint}")
    return notices


def dotenv_lines(path: Path) -> tuple[list[str], list[str]]:
    """Return the names a ``.env`` file sets and one warning per line that is not ``NAME=value``."""
    if not path.is_file():
        return [], []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path} cannot be read ({exc.__class__.__name__}); its settings are ignored"]
    names, notices = [], []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            notices.append(f"{path} line {binding.original.line} is not NAME=value and is ignored")
        elif binding.key is not None:
            names.append(binding.key)
    return names, notices


def environment_notices(
    environ: Mapping[str, str], known: frozenset[str], dotenv: Path = Path(".env")
) -> list[str]:
    """Return the warnings about ``environ`` and the ``.env`` file: bad lines first, then unknown names."""
    names, notices = dotenv_lines(dotenv)
    notices += unknown_names(environ, known)
    notices += unknown_names([n for n in names if n not in environ], known, where=f" (in {dotenv})")
    return notices


def ensure_folder(folder: Path, what: str) -> None:
    """Create ``folder`` and its parents, or raise ``ConfigurationError`` saying why it cannot be ``what``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = _existing_file(folder)
        raise ConfigurationError(
            f"{what} {folder} cannot be a folder: {blocker or folder} is a file; "
            "point the setting at a folder or move the file away"
        ) from exc
    except OSError as exc:
        raise ConfigurationError(f"cannot create {what} {folder}: {exc.strerror or exc}") from exc


def _existing_file(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate if not candidate.is_dir() else None
    return None
