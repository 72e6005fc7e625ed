"""Errors that reach the user as one line: ``file:line: problem``."""

from __future__ import annotations

from pathlib import Path


class DcellxError(Exception):
    """Base class of every error dcellx reports to the user (exit code 2, no traceback)."""


class InputError(DcellxError):
    """Bad input in a file: names the file and, where known, the 1-based line."""

    def __init__(self, path: str | Path | None, line: int | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.problem = problem
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {problem}")


class ConfigError(DcellxError):
    """An invalid option or combination of options."""


class DataFileMissing(DcellxError):
    """A registered data file is neither cached, mirrored, nor downloadable."""
