"""Epoch progress: a rich bar on a terminal, plain log lines otherwise (SLURM logs), or nothing.

The bar refreshes from rich's own thread at a few Hz, so ``update`` per epoch only stores numbers.
"""

from __future__ import annotations

import math
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _f(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return f"{v:.{digits}f}"


def describe(row: dict[str, Any], best: float, best_epoch: int) -> str:
    """One epoch in a line: losses, both Pearsons, the best (eval-BN) so far, LR."""
    return (
        f"loss {_f(row['loss_total'])} (root {_f(row['loss_root'])}) "
        f"r_train-bn {_f(row['pearson_train_bn'])} r_eval-bn {_f(row['pearson_eval_bn'])} "
        f"best {_f(best)}@{best_epoch} lr {row['lr']:.2e}"
    )


def compact(row: dict[str, Any], best: float, best_epoch: int) -> str:
    """The same, short enough to sit next to a progress bar."""
    return (
        f"r train-bn {_f(row['pearson_train_bn'], 3)} eval-bn {_f(row['pearson_eval_bn'], 3)} "
        f"best {_f(best, 3)}@{best_epoch} loss {_f(row['loss_total'], 3)}"
    )


class EpochProgress:
    """``update(epoch, row, best, best_epoch)`` once per epoch; ``close()`` at the end."""

    def __init__(
        self, title: str, total: int, start: int, quiet: bool, console: Console | None = None
    ) -> None:
        self.console = console or Console()
        self.total, self.title = total, title
        self.mode = "quiet" if quiet else ("bar" if self.console.is_terminal else "plain")
        # plain logs: about 20 lines per run, and at least one a minute
        self.every = max(1, total // 20)
        self._last_line = time.monotonic()
        self._bar: Progress | None = None
        if self.mode == "bar":
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=self.console,
                transient=False,
            )
            self._task = self._bar.add_task(title.split()[0], total=total, completed=start, info="")
            self._bar.start()

    def update(self, epoch: int, row: dict[str, Any], best: float, best_epoch: int) -> None:
        if self.mode == "bar":
            assert self._bar is not None
            self._bar.update(self._task, completed=epoch, info=compact(row, best, best_epoch))
        elif self.mode == "plain":
            now = time.monotonic()
            if epoch % self.every == 0 or epoch == self.total or now - self._last_line > 60:
                self._last_line = now
                line = f"{self.title} epoch {epoch}/{self.total} {describe(row, best, best_epoch)}"
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
