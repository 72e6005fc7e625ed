"""Issue 14 item 3: ``--resume`` refuses flags that contradict the run (the mode included) and
applies a longer ``--epochs`` (saying so); a checkpoint of another ontology or variant is refused
before it is loaded. Every refusal is one line, exit 2, and changes nothing in the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.reliability.conftest import OVERFIT, files_under, left_behind, refused
from tests.train.conftest import metrics_without_seconds


def snapshot(run: Path) -> dict[str, bytes]:
    return {f: (run / f).read_bytes() for f in files_under(run)}


def unfinished(cli, runs: Path, *extra: str) -> Path:
    """An overfit run checkpointed at its last epoch, without its summary: what a run killed
    right after a checkpoint leaves to ``--resume`` (``last``: a finished run keeps it)."""
    args = ["--epochs", "10", "--checkpoint-every", "5", "--keep-checkpoints", "last"]
    res = cli(*OVERFIT, *args, "--runs-dir", runs, *extra)
    assert res.code == 0, res.err
    (run,) = runs.iterdir()
    (run / "summary.json").unlink()
    return run


@pytest.fixture
def run_dir(tmp_path: Path, cli) -> Path:
    return unfinished(cli, tmp_path / "runs")


def test_another_mode_is_refused(run_dir: Path, cli) -> None:
    before = snapshot(run_dir)
    line = refused(cli("train", "--resume", run_dir, "-q"))
    assert line == (
        f"error: {run_dir} is an overfit run: continue it with `dcellx overfit --resume {run_dir}`"
    )
    assert snapshot(run_dir) == before and left_behind(run_dir.parent) == []


@pytest.mark.parametrize(
    ("flags", "shown", "recorded"),
    [
        (["--go", "2017"], "--go 2017", "go = 'dna-repair'"),
        (["--lr", "0.01"], "--lr 0.01", "lr = 0.001"),
        (["--preset", "lua"], "--preset lua", "preset = 'paper'"),
        (["--variant", "embedding"], "--variant embedding", "variant = 'binary'"),
        (["--alpha", "0.5"], "--alpha 0.5", "alpha = 0.3"),
        (["--set", "model.alpha=0.5"], "--set model.alpha=0.5", "alpha = 0.3"),
        (["--min-genes", "4"], "--min-genes 4", "min_genes = None"),
        (["--threads", "2"], "--threads 2", "threads = 1"),
        (["--unknown-genes", "error"], "--unknown-genes error", "unknown_genes = 'warn'"),
    ],
    ids=["go", "lr", "preset", "variant", "alpha", "set", "min-genes", "threads", "unknown-genes"],
)
def test_a_contradicting_flag_is_refused(run_dir: Path, cli, flags, shown, recorded) -> None:
    before = snapshot(run_dir)
    line = refused(cli("overfit", "--resume", run_dir, *flags, "-q"))
    assert line.startswith(
        f"error: {shown} contradicts {run_dir}, an overfit run with {recorded} (config.json): "
        "--resume continues a run as it began and changes only --epochs, --max-steps, "
        "--checkpoint-every and --keep-checkpoints"
    )
    assert line.endswith(f"drop {flags[0]} or start a new run")
    assert snapshot(run_dir) == before and left_behind(run_dir.parent) == []


def test_flags_equal_to_the_run_are_accepted(run_dir: Path, cli) -> None:
    same = ["--go", "dna-repair", "--lr", "1e-3", "--seed", "0", "--threads", "1"]
    res = cli("overfit", "--resume", run_dir, *same, "--runs-dir", run_dir.parent, "-q")
    assert res.code == 0, res.err
    assert (run_dir / "summary.json").is_file()


def test_a_runs_dir_that_does_not_hold_the_run_is_refused(run_dir: Path, tmp_path, cli) -> None:
    other = tmp_path / "other"
    line = refused(cli("overfit", "--resume", run_dir, "--runs-dir", other, "-q"))
    assert line == f"error: --runs-dir {other}: {run_dir} is not in it; drop --runs-dir"


def test_more_epochs_are_applied_and_said(tmp_path: Path, cli) -> None:
    run = unfinished(cli, tmp_path / "runs")
    res = cli("overfit", "--resume", run, "--epochs", "15", "-q")
    assert res.code == 0, res.err
    assert f"{run}: resuming with epochs 10 -> 15 (config.json updated)" in res.out
    assert json.loads((run / "config.json").read_text())["run"]["epochs"] == 15
    # the same arithmetic as a run planned for 15 epochs from the start
    ref = tmp_path / "ref"
    assert cli(*OVERFIT, "--epochs", "15", "--runs-dir", ref).code == 0
    (ref_run,) = ref.iterdir()
    assert metrics_without_seconds(run) == metrics_without_seconds(ref_run)


def test_fewer_epochs_than_done_are_refused(run_dir: Path, cli) -> None:
    before = snapshot(run_dir)
    line = refused(cli("overfit", "--resume", run_dir, "--epochs", "7", "-q"))
    assert line == f"error: --epochs 7: {run_dir} has already completed 10 epochs"
    assert snapshot(run_dir) == before and left_behind(run_dir.parent) == []


def test_a_finished_run_cannot_be_extended(run_dir: Path, cli) -> None:
    assert cli("overfit", "--resume", run_dir, "-q").code == 0  # finishes it
    before = snapshot(run_dir)
    line = refused(cli("overfit", "--resume", run_dir, "--epochs", "20", "-q"))
    assert line == f"error: {run_dir} has finished (summary.json): --epochs cannot change it"
    assert snapshot(run_dir) == before


def test_cosine_schedule_keeps_its_period(tmp_path: Path, cli) -> None:
    run = unfinished(cli, tmp_path / "runs", "--scheduler", "cosine")
    before = snapshot(run)
    line = refused(cli("overfit", "--resume", run, "--epochs", "20", "-q"))
    assert line == (
        f"error: --epochs 20: the cosine schedule of {run} spans its 10 planned epochs and "
        "cannot change on --resume"
    )
    assert snapshot(run) == before


def test_a_checkpoint_of_another_ontology_is_refused_before_loading(
    tmp_path: Path, shared_data: Path, cli
) -> None:
    """DNA repair without one leaf term: another ontology, whose checkpoint is copied in."""
    lines = (shared_data / "dcell/GO_0006281_topology").read_text().splitlines()
    stanzas = [lines[i : i + 3] for i in range(0, len(lines), 3)]  # ROOT:, GENES:, TERMS:
    leaf = next(s for s in stanzas[1:] if s[2].strip() == "TERMS:")
    term = leaf[0].split()[1]
    kept = [ln.replace(f" {term}", "") for s in stanzas if s is not leaf for ln in s]
    other = tmp_path / "topology"
    other.write_text("\n".join(kept) + "\n")
    recipe = tmp_path / "other.toml"
    recipe.write_text(
        f'name = "other"\nontology = "{other}"\nontology_format = "topology"\n'
        'universe = "annotated"\n'
    )
    run = unfinished(cli, tmp_path / "runs")
    donor = unfinished(cli, tmp_path / "donor", "--go", str(recipe))
    shutil.copy(donor / "checkpoint-last.pt", run / "checkpoint-last.pt")
    before = snapshot(run)
    line = refused(cli("overfit", "--resume", run, "-q"))
    assert line.startswith(f"error: {run}/checkpoint-last.pt: checkpoint of another ontology")
    assert line.endswith("): it belongs to another run")
    assert snapshot(run) == before and left_behind(tmp_path) == []


def test_a_checkpoint_of_another_variant_is_refused(tmp_path: Path, cli) -> None:
    run = unfinished(cli, tmp_path / "runs")
    donor = unfinished(cli, tmp_path / "donor", "--variant", "embedding")
    shutil.copy(donor / "weights-best.pt", run / "weights-best.pt")
    line = refused(cli("overfit", "--resume", run, "-q"))
    assert line == (
        f"error: {run}/weights-best.pt: checkpoint of variant 'embedding', this run is 'binary': "
        "it belongs to another run"
    )
    assert not (run / "summary.json").exists()
