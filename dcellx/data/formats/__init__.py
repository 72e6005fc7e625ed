"""The genotype file formats ``load_screen`` and ``dcellx data inspect`` read, by name.

Each format is one module of this package declaring a ``GenotypeFormat`` (``spec``): its name,
how its first data line is recognised (``sniff``) and its reader. A new format is a new module
and one entry in ``REGISTERED``.

Sniffing (``format="auto"``) reads the first data line (of the first member, for a zip) and asks
the screens first, then the other formats, each group in registration order: a screen's header
names several specific columns, while a table needs only a ``genes`` column. The format without
a sniff, DCell, takes a file no other format claims.
"""

from __future__ import annotations

from pathlib import Path

from dcellx.data.formats import costanzo2016, dcell, kuzmin2018, table
from dcellx.data.formats.spec import GenotypeFormat
from dcellx.data.sga import first_line
from dcellx.errors import ConfigError

# In the order users see them (``--format``); one entry per format module.
REGISTERED: dict[str, GenotypeFormat] = {
    f.name: f
    for f in (
        dcell.FORMAT,
        table.FORMAT,
        costanzo2016.FORMAT,
        kuzmin2018.FORMAT,
    )
}

FORMATS = ("auto", *REGISTERED)
SCREEN_FORMATS = tuple(name for name, f in REGISTERED.items() if f.screen)

__all__ = [
    "FORMATS",
    "REGISTERED",
    "SCREEN_FORMATS",
    "GenotypeFormat",
    "get_format",
    "sniff_format",
]


def get_format(name: str) -> GenotypeFormat:
    """The registered format ``name``; a ``ConfigError`` listing the choices otherwise."""
    found = REGISTERED.get(name)
    if found is None:
        raise ConfigError(f"unknown genotype format {name!r}; choose from {list(FORMATS)}")
    return found


def sniff_format(path: str | Path) -> str:
    """The name of the format of ``path``, from its first data line (module doc)."""
    line = first_line(Path(path))
    asked = sorted(REGISTERED.values(), key=lambda f: not f.screen)  # stable: screens first
    for fmt in asked:
        if fmt.sniff is not None and fmt.sniff(line):
            return fmt.name
    return next(f.name for f in REGISTERED.values() if f.sniff is None)
