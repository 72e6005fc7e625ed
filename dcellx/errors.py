"""Errors that reach the user as one line: ``file:line: problem``."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path


class DcellxError(Exception):
    """Base class of every error dcellx reports to the user (exit code 2, no traceback)."""


# A value an error quotes from a file is cut to this many characters: a 20 MB token must not
# become a 20 MB error line.
QUOTE_CHARS = 80
# The whole problem text is cut to this many characters (a header of 300 columns, say).
PROBLEM_CHARS = 1000
# A quoted Python literal: '...' or "..." with backslash escapes (what ``!r`` writes).
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'" + r'|"(?:[^"\\\n]|\\.)*"')
_UNPRINTABLE = re.compile(r"[^\S ]|[\x00-\x1f\x7f-\x9f]")


def _private(path: str | Path | None) -> bool:
    """Whether ``path`` is a file only privilege lets us read: not readable by others, and
    either not ours or read as root (``/etc/shadow``). Its content is never quoted."""
    if path is None:
        return False
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    euid = os.geteuid()
    return not st.st_mode & stat.S_IROTH and (euid == 0 or st.st_uid != euid)


def bounded_problem(problem: str, private: bool = False) -> str:
    """``problem`` as one printable line: each quoted value cut to ``QUOTE_CHARS`` (or hidden
    when ``private``), control characters escaped, the whole cut to ``PROBLEM_CHARS``."""

    def quote(m: re.Match[str]) -> str:
        text = m.group(0)
        if private:
            return "<not shown: the file is not readable by others>"
        if len(text) <= QUOTE_CHARS + 2:
            return text
        return f"{text[: QUOTE_CHARS + 1]}...{text[-1]} ({len(text) - 2} characters)"

    out = _QUOTED.sub(quote, problem)
    out = _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), out)
    if len(out) > PROBLEM_CHARS:
        out = f"{out[:PROBLEM_CHARS]}... ({len(out) - PROBLEM_CHARS} more characters)"
    return out


class InputError(DcellxError):
    """Bad input in a file: names the file and, where known, the 1-based line. The problem is
    made one bounded, printable line (``bounded_problem``): it quotes at most ``QUOTE_CHARS`` of
    any value, and nothing of a file only privilege lets us read."""

    def __init__(self, path: str | Path | None, line: int | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        problem = bounded_problem(problem, private=_private(path))
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
