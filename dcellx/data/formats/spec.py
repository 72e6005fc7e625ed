"""What a genotype file format declares to the registry (``dcellx.data.formats``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dcellx.data.store import GenotypeDataset


@dataclass(frozen=True)
class GenotypeFormat:
    """One readable format: its name, how its first data line is recognised, and its reader.

    ``sniff(line)`` says whether the first data line (a header, for the tabular formats) is this
    format's; ``None`` marks the fallback, which takes any file no other format claims (one
    format is the fallback: DCell's ``k g1 .. gk value``, which has no header).

    Two kinds of reader:

    * a *screen* (``phenotypes`` given; the first is the default) picks its value while reading
      and takes ``filters``: ``read(path, phenotype, *, duplicates, stats, **filters)``. Screens
      are always read through the parsed-screen cache (``dcellx.data.screen_cache``).
    * a file whose phenotypes are its own columns (``phenotypes`` empty, no filters):
      ``read(path, *, duplicates, stats)``; ``load_screen`` picks a column afterwards, and
      caches only a large file.

    Either fills ``stats`` (a ``ScreenStats``) and raises ``InputError`` with file:line.
    """

    name: str
    sniff: Callable[[str], bool] | None
    read: Callable[..., GenotypeDataset]
    phenotypes: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()

    @property
    def screen(self) -> bool:
        """Whether the reader picks the phenotype and takes filters (see the class doc)."""
        return bool(self.phenotypes)
