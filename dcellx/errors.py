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


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr: something the user should know that stops nothing."""
    import sys

    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def validation_message(exc: Exception, prefix: str = "") -> str:
    """The first error of a pydantic ``ValidationError`` as one line: ``field.path: problem (got
    value)``; ``prefix`` names the model's place in a larger config (``model``)."""
    err = exc.errors()[0]  # type: ignore[attr-defined]
    loc = ".".join(str(x) for x in (prefix, *err["loc"]) if x != "") or "config"
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    if isinstance(value, bool | int | float | str) and err["type"] not in ("value_error",):
        msg += f" (got {value!r})"
    return f"{loc}: {msg}"


def config_error(exc: Exception, prefix: str = "") -> ConfigError:
    """A pydantic ``ValidationError`` as the one-line ``ConfigError`` the CLI prints."""
    return ConfigError(validation_message(exc, prefix))
