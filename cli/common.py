"""Options shared by several commands, each declared once here as an ``Annotated`` alias, and
the means to declare a group of options once.

A command lists the aliases as ordinary parameters (``go: GoOpt = DEFAULT_GO``), so its flags are
visible to readers and IDEs. Groups:

* ontology selection: ``ontology build|stats|export``, ``bench``, ``diagnose`` and the run commands;
* run options: the parameters of ``dcellx_cli.run_options.run_options``, which ``overfit``,
  ``train``, ``compare``, ``config show`` and ``slurm compare|overfit|train`` take after their
  own (``with_options``);
* ``--resume``, ``--ddp``, ``--sync-bn`` and the sweep options of ``compare`` and ``slurm compare``.

A help text that names a config's choices or default reads them from the config (``choices``,
``default``, ``described``), so that each is written once, where the config declares it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from dcellx.ontology.recipe import named_recipes
from dcellx.train.config import MODES

# --- ontology selection ------------------------------------------------------------------------
_GO = typer.Option(
    "--go",
    help=f"Ontology recipe: {', '.join(named_recipes())} (ontologies/, $DCELLX_ONTOLOGIES), "
    "or a .toml path.",
)
GoOpt = Annotated[str, _GO]
RunGoOpt = Annotated[str | None, _GO]  # run commands: None = DEFAULT_GO, or the resumed run's
OboOpt = Annotated[
    Path | None, typer.Option("--obo", help="Override the recipe's ontology file (OBO).")
]
GafOpt = Annotated[
    Path | None,
    typer.Option("--gaf", "--annotations", help="Override the recipe's annotation file (GAF/TSV)."),
]
DateCutoffOpt = Annotated[
    str | None,
    typer.Option("--date-cutoff", help="Keep annotations dated on or before YYYY-MM-DD."),
]
MinGenesOpt = Annotated[
    int | None, typer.Option("--min-genes", help="Containment filter: keep terms with >= n genes.")
]
UniverseOpt = Annotated[
    str | None,
    typer.Option(
        "--universe",
        help="Containment universe / input genes: annotated, a gene-list file, dataset:<name>.",
    ),
]


def ontology_overrides(
    obo: Path | None,
    gaf: Path | None,
    date_cutoff: str | None,
    min_genes: int | None,
    universe: str | None,
) -> dict[str, object]:
    """Collect the recipe overrides a command received (``None`` = keep the recipe's)."""
    return {
        "obo": obo,
        "annotations": gaf,
        "date_cutoff": date_cutoff,
        "min_genes": min_genes,
        "universe": universe,
    }


# --- how a config's choices and defaults read in a help text -----------------------------------
def choices(model: type[BaseModel], name: str) -> tuple[str, ...]:
    """The values the ``Literal`` field ``name`` of ``model`` accepts, in its order."""
    return typing.get_args(model.model_fields[name].annotation)


def default(model: type[BaseModel], name: str) -> Any:
    """The default of field ``name`` of ``model``."""
    return model.model_fields[name].default


def one_of(values: Sequence[str]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``."""
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def described(
    model: type[BaseModel], name: str, notes: dict[str, str], mark_default: bool = False
) -> str:
    """The choices of field ``name`` in the order of ``notes`` (choice -> what it does, or ""),
    each note in brackets: ``"a (note), b or c"``; the default's note ends in "; default" where
    ``mark_default``. ``notes`` must name exactly the field's choices, so that a choice the config
    gains or loses cannot go unmentioned here."""
    if set(notes) != set(choices(model, name)):
        raise AssertionError(
            f"{name}: help names {sorted(notes)}, the config {choices(model, name)}"
        )
    dflt = default(model, name)
    items = []
    for value, note in notes.items():
        note += "; default" if mark_default and value == dflt and note else ""
        items.append(f"{value} ({note})" if note else value)
    if len(items) > 1 and list(notes.values())[-1]:
        # a serial comma, so that the last choice's note reads as its own
        return f"{', '.join(items[:-1])}, or {items[-1]}"
    return one_of(items)


def compact_names(names: Sequence[str]) -> str:
    """``("binary", "embedding", "embedding-pooled")`` -> ``"binary, embedding[-pooled]"``."""
    out: list[tuple[str, list[str]]] = []
    for name in names:
        if out and name.startswith(out[-1][0] + "-"):
            out[-1][1].append(name[len(out[-1][0]) :])
        else:
            out.append((name, []))
    return ", ".join(root + (f"[{'|'.join(tails)}]" if tails else "") for root, tails in out)


def cli_flag(name: str, help: str, *more: str) -> Any:
    """``--name`` (and ``more`` aliases) with ``help``, for an ``Annotated`` option alias."""
    return typer.Option(f"--{name}", *more, help=help)


Command = TypeVar("Command", bound=Callable[..., Any])


def with_options(options: Callable[..., Any], name: str) -> Callable[[Command], Command]:
    """A command decorator: the command takes its own parameters, then ``options``' (Typer reads
    the signature this gives the command, so a group of options is declared once, in ``options``),
    and is called with what ``options`` builds from them as keyword ``name``."""
    extra = list(inspect.signature(options, eval_str=True).parameters.values())

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True).parameters.values()

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            built = options(**{p.name: kwargs.pop(p.name) for p in extra})
            return command(**kwargs, **{name: built})

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own if p.name != name]
        params += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in extra]
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {}  # the signature holds them, evaluated
        return wrapper  # type: ignore[return-value]

    return decorate


# --- options of the run commands beside the run options ----------------------------------------
# overfit / train
ResumeOpt = Annotated[
    Path | None, cli_flag("resume", "Continue runs/<id> from its checkpoint-last.pt.")
]
DdpOpt = Annotated[bool, cli_flag("ddp", "Data parallel over the processes of torchrun or srun.")]
SyncBnOpt = Annotated[
    bool, cli_flag("sync-bn", "--ddp: BatchNorm statistics over the global batch.")
]

# --- sweep options: compare and slurm compare --------------------------------------------------
VariantsOpt = Annotated[str, cli_flag("variants", "Comma-separated variants.")]
SeedsPerVariantOpt = Annotated[int, cli_flag("seeds", "Seeds per variant (from --seed).")]
ModeOpt = Annotated[str, cli_flag("mode", f"{one_of(MODES)}.")]
