"""Nothing a user made is overwritten without being asked, and interrupted work resumes
(issue 27): ``--resume`` of a run whose checkpoint is gone, ``predict --out`` onto an input or
into a run, ``compare`` again into its ``--sweep-dir``."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.reliability.conftest import OVERFIT, refused

EPOCHS = ("--epochs", "6")


def bytes_of(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file()}


def test_resume_without_its_checkpoint_is_refused_and_keeps_the_records(
    tmp_path: Path, cli
) -> None:
    """It printed "resuming", trained from epoch 1 and overwrote metrics.csv and the best
    weights; it names both files and touches nothing."""
    runs = tmp_path / "runs"
    assert cli(*OVERFIT, *EPOCHS, "--keep-checkpoints", "last", "--runs-dir", str(runs)).code == 0
    (run,) = runs.iterdir()
    (run / "summary.json").unlink()  # an interrupted run ...
    (run / "checkpoint-last.pt").unlink()  # ... whose checkpoint was removed
    before = bytes_of(run)
    res = cli("overfit", "--resume", str(run), "-q")
    refused(res, f"{run}: cannot resume: metrics.csv records 6 epoch(s) but checkpoint-last.pt")
    assert bytes_of(run) == before


def test_predict_out_refuses_its_input_and_a_run_directory(
    tmp_path: Path, cli, dna_file: Path
) -> None:
    runs = tmp_path / "runs"
    assert cli(*OVERFIT, *EPOCHS, "--runs-dir", str(runs)).code == 0
    (run,) = runs.iterdir()
    data = tmp_path / "genotypes.txt"
    shutil.copy(dna_file, data)
    before, kept = data.read_bytes(), bytes_of(run)
    base = ["predict", "--run", str(run), "--data", str(data)]
    res = cli(*base, "--out", str(data))
    refused(res, f"--out {data} is the --data file: refusing to overwrite an input")
    for out in (run / "weights-best.pt", run / "predictions.csv"):
        res = cli(*base, "--out", str(out))
        refused(res, f"--out {out} is inside the run directory {run.resolve()}")
    assert data.read_bytes() == before and bytes_of(run) == kept
    assert cli(*base, "--out", str(run / "predictions.csv"), "--force").code == 0
    assert (run / "predictions.csv").read_text().startswith("genes,prediction,measured\n")


def test_compare_again_into_its_sweep_dir_skips_finished_points_and_resumes_the_rest(
    tmp_path: Path, cli
) -> None:
    """Run again after an interruption, ``compare`` retrained every point (7 run directories
    for 4 points); now, as ``sweep-run``: a finished point is skipped, an interrupted one
    resumed from its checkpoint, one that left no checkpoint redone in its own directory."""
    sweep = tmp_path / "sweep"
    args = ["compare", "--go", "dna-repair", "--variants", "binary", "--seeds", "3", "--threads"]
    args += ["1", *EPOCHS, "--keep-checkpoints", "last", "--sweep-dir", str(sweep)]
    assert cli(*args).code == 0
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(runs) == 3
    finished, interrupted, lost = runs
    kept = bytes_of(finished)
    (interrupted / "summary.json").unlink()
    for name in ("summary.json", "checkpoint-last.pt"):
        (lost / name).unlink()
    res = cli(*args)
    assert res.code == 0, res.err
    assert sorted(p for p in sweep.iterdir() if p.is_dir()) == runs
    assert f"already finished in {finished}" in res.out
    assert f"resuming {interrupted} from epoch 6" in res.out
    assert f"resuming {lost} from scratch" in res.out
    assert bytes_of(finished) == kept
    assert all((r / "summary.json").is_file() for r in runs)
    assert (sweep / "compare.csv").read_text().count("\n") == 4  # header + 3 points
