"""``LocalChartStore``: charts as files under one root folder.

Writes go to a temporary file in the target folder and are moved into place with ``os.replace``, so a
reader sees the old chart or the new one, never half of one. Besides the key rules of ``validate_key``,
every path is resolved (symbolic links included) and must stay inside the root.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ibflow.charts.store import validate_key
from ibflow.core.environment import ensure_folder
from ibflow.core.errors import NotFound, ValidationError


class LocalChartStore:
    """A ``ChartStore`` on the local file system."""

    def __init__(self, root: Path) -> None:
        ensure_folder(root, "the charts folder (IBFLOW_CHARTS_DIR, default IBFLOW_DATA_DIR/charts)")
        self._root = root.resolve(strict=True)

    @property
    def root(self) -> Path:
        """Return the resolved root folder."""
        return self._root

    def put(self, key: str, data: bytes) -> None:
        """Write ``data`` to ``key`` atomically, creating folders as needed."""
        target = self._path(key)  # checked before any folder is created, so a link cannot lead out
        target.parent.mkdir(parents=True, exist_ok=True)
        self._inside(target.parent)  # and again, in case a folder became a link meanwhile
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def get(self, key: str) -> bytes:
        """Return the chart stored under ``key``; raise ``NotFound`` if there is none."""
        target = self._path(key)
        try:
            return target.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no chart under key {key!r}") from None

    def delete(self, key: str) -> None:
        """Remove the chart under ``key`` if it exists."""
        target = self._path(key)
        with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
            target.unlink()

    def locate(self, key: str) -> str:
        """Return the chart's file path."""
        return str(self._path(key))

    def _path(self, key: str) -> Path:
        target = self._root.joinpath(*validate_key(key).split("/"))
        self._inside(target)
        return target

    def _inside(self, path: Path) -> None:
        resolved = path.resolve(strict=False)
        if resolved != self._root and not resolved.is_relative_to(self._root):
            problem = "resolves outside the chart store's root"
            raise ValidationError(f"invalid chart key: {problem}", problems={"key": problem})
