"""``predict``: apply a finished run to genotypes, in the original label units.

The ontology is rebuilt from the run's recorded recipe (or ``--go``) and must compile to exactly the
structure the weights were trained on (same content hash): a model's weights are only meaningful on
the gene-term wiring they were learned on, so a mismatch is refused rather than silently misused.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import IO, Any

import numpy as np

from dcellx.batch import encode_genotypes
from dcellx.data.datasets import NAMED_DATASETS, load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.errors import ConfigError, InputError
from dcellx.fileio import atomic_write, check_writable, read_text
from dcellx.io import registry
from dcellx.train import checkpoint
from dcellx.train.checkpoint import BEST, LAST
from dcellx.train.config import RESUME_CHANGES, RunConfig, load_run_config
from dcellx.train.context import check_device
from dcellx.train.data import LabelStats, Split
from dcellx.train.evaluate import predict_split
from dcellx.train.metrics import regression_metrics
from dcellx.train.models import build_model, run_ontology
from dcellx.train.rundir import read_json


def _genes_only(path: Path) -> GenotypeDataset | None:
    """A table whose only column is ``genes`` (nothing measured): genotypes, no values."""
    lines = [ln.strip() for ln in read_text(path).splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines or lines[0].strip("\"'") != "genes":
        return None
    genes = [tuple(g.strip() for g in ln.strip("\"'").split(";")) for ln in lines[1:]]
    if not genes:
        raise InputError(path, None, "no genotypes found")
    return GenotypeDataset(genes, np.full((len(genes), 1), np.nan), ["(none)"], str(path))


def read_genotypes(data: str, split: str | None) -> tuple[GenotypeDataset, bool]:
    """The genotypes to predict and whether they carry measured values."""
    if data in NAMED_DATASETS:
        sets = load_dataset(data)
        split = split or ("test" if "test" in sets else "train")
        if split not in sets:
            raise ConfigError(f"--split {split!r}: {data!r} has {', '.join(sets)}")
        return sets[split], True
    path = registry.resolve(data)
    bare = _genes_only(path)
    if bare is not None:
        return bare, False
    return load_dataset(path)["train"], True


WRITE_ROWS = 100_000  # rows formatted at a time: the CSV of 10^7 genotypes is never held whole


def _write_predictions(fh: IO[bytes], ds: GenotypeDataset, pred: np.ndarray, column: int | None):
    """The CSV (genes, prediction[, measured]), formatted in chunks from the columnar store."""
    header = ["genes", "prediction", *(["measured"] if column is not None else [])]
    fh.write((",".join(header) + "\n").encode())
    names = np.asarray([*ds.vocab, ""], dtype=object)  # code -1 -> ""
    for a in range(0, len(ds), WRITE_ROWS):
        b = min(len(ds), a + WRITE_ROWS)
        table = names[ds.codes[a:b]].tolist()
        lens = ds.lengths[a:b].tolist()
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        measured = ds.values[a:b, column].tolist() if column is not None else None
        for i, (row, k) in enumerate(zip(table, lens, strict=True)):
            cells = [";".join(row[:k]), repr(float(pred[a + i]))]
            if measured is not None:
                cells.append(repr(float(measured[i])))
            w.writerow(cells)
        fh.write(buf.getvalue().encode())


def load_weights(run_dir: Path, which: str = "best") -> dict[str, Any]:
    """``weights-best.pt`` (or ``checkpoint-last.pt`` for ``which="last"`` or when no best)."""
    order = [BEST, LAST] if which == "best" else [LAST]
    for name in order:
        if (run_dir / name).exists():
            return checkpoint.load(run_dir / name)
    if which == "last" and (run_dir / BEST).exists():
        raise InputError(
            run_dir, None, f"no {LAST}: a finished run keeps it only with --keep-checkpoints "
            "last or all; use --weights best",
        )  # fmt: skip
    raise InputError(
        run_dir, None, "no weights in this run (was it run with --keep-checkpoints none?)"
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except OSError:
        return False


def refuse_own_files(out: Path, run_dir: Path, data: str) -> None:
    """``--out`` must not overwrite what the user made: the ``--data`` file, or anything inside
    ``run_dir`` or another run directory (its weights, metrics, config). ``--force`` skips this."""
    inputs = [] if data in NAMED_DATASETS else [registry.resolve(data)]
    for path in inputs:
        if _same_file(out, path):
            raise ConfigError(
                f"--out {out} is the --data file: refusing to overwrite an input "
                "(choose another --out, or add --force)"
            )
    target, own = out.resolve(), run_dir.resolve()
    for folder in target.parents:  # this run, or any folder that holds a run's records
        marks = ["config.json"] if folder == own else ["config.json", "env.json"]
        if all((folder / name).is_file() for name in marks):
            raise ConfigError(
                f"--out {out} is inside the run directory {folder}: refusing to write over a "
                "run's files (choose another --out, or add --force)"
            )


# What may differ between config.json and the checkpoint: what --resume may change, and output.
_UNCHECKED = {*RESUME_CHANGES, "quiet"}


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = [k for k in a if where or k not in _UNCHECKED]
        keys += [k for k in b if k not in a and (where or k not in _UNCHECKED)]
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{where}{k}.")]
    return [] if a == b else [where.rstrip(".")]


def weights_config(run_dir: Path, recorded: dict[str, Any], state: dict[str, Any]) -> RunConfig:
    """The config the weights were trained with: the checkpoint's own. ``config.json`` (which a
    user may edit) must agree with it on everything that shapes a prediction; the first field
    that does not is one error."""
    own = state.get("config")
    if own is None:  # a checkpoint written before it carried its config
        return load_run_config(recorded)
    cfg = load_run_config(own)
    said = load_run_config(recorded).model_dump(mode="json")
    diff = _differences(said, cfg.model_dump(mode="json"))
    if diff:
        field, path = diff[0], run_dir / "config.json"
        ours = _lookup_dotted(said, field)
        theirs = _lookup_dotted(cfg.model_dump(mode="json"), field)
        raise InputError(
            path, None, f"{field} is {ours!r} but the weights were trained with {theirs!r} (their "
            "checkpoint's config): config.json was edited; restore it",
        )  # fmt: skip
    return cfg


def _lookup_dotted(data: dict[str, Any], field: str) -> Any:
    for part in field.split("."):
        data = data.get(part) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


def predict(
    run_dir: str | Path,
    data: str,
    out: str | Path,
    go: str | None = None,
    weights: str = "best",
    split: str | None = None,
    device: str = "cpu",
    force: bool = False,
) -> dict[str, Any]:
    """Write ``out`` (CSV: genes, prediction[, measured]); return counts and, where measured
    values exist, Pearson/Spearman/MSE/R^2 in original units. ``out`` may not be the input
    file nor lie inside a run directory unless ``force`` (``refuse_own_files``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise InputError(run_dir, None, "not a run directory (no config.json)")
    if not force:
        refuse_own_files(Path(out), run_dir, data)
    check_writable(out)  # before loading the model
    dev = check_device(device)
    config = read_json(run_dir / "config.json")
    state = load_weights(run_dir, weights)
    cfg = weights_config(run_dir, config["run"], state)
    if go:
        base = load_ontology_with_datasets(go)
    else:
        base = load_ontology_with_datasets(cfg.go, **cfg.ontology.as_kwargs())
    onto = run_ontology(base, cfg.variant, cfg.seed)
    if onto.content_hash != state["ontology_hash"]:
        raise ConfigError(
            f"ontology {go or cfg.go!r} compiles to {onto.content_hash[:12]} but the run's "
            f"weights were trained on {state['ontology_hash'][:12]}: refusing to predict"
        )
    model = build_model(
        onto, cfg.model, cfg.variant, cfg.seed, engine=cfg.engine, buckets=cfg.buckets
    )
    model.load_term_state_dict(state["model"])
    model.to(dev)
    labels = LabelStats(**state["labels"])
    ds, measured = read_genotypes(data, split)
    enc = encode_genotypes(ds, onto, unknown=cfg.unknown_genes)
    column = None
    if measured:
        name = config["data"]["phenotype"]
        column = ds.phenotypes.index(name) if name in ds.phenotypes else cfg.phenotype
        if column >= len(ds.phenotypes):
            column = None
    rows = np.arange(len(enc))
    dummy = np.zeros(len(enc), dtype=np.float32)
    pred = labels.inverse(predict_split(model, Split(enc, rows, dummy, dummy), rows, dev))
    out = Path(out)
    atomic_write(out, lambda fh: _write_predictions(fh, ds, pred, column))
    report: dict[str, Any] = {
        "run": run_dir.name,
        "genotypes": len(ds),
        "invisible_genes": int(enc.invisible.sum()),
        "out": str(out),
    }
    if column is not None:
        report.update(regression_metrics(pred, ds.values[:, column]))
    return report
