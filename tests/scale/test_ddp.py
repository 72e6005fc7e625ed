"""Data parallel training with torch.distributed (gloo, CPU, 2 processes) on the real DNA-repair
data and ontology: the same metrics as one process, and checkpoints that any world size resumes.

Tolerances: overfit (the batch is scored on itself) matches one process to ~1e-6 for many epochs.
In ``train`` mode the eval-mode metrics on held-out genotypes amplify float rounding (BatchNorm with
eps 1e-5 over features that are near-constant within a training batch): a one-process run whose
BatchNorm statistics are merely summed in float64 drifts as far, so there the held-out columns are
held to 1e-4 for the first epoch only.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dcellx.train import make_run_config, resume, run
from dcellx.train.checkpoint import LAST
from dcellx.train.signals import TEST_ENV
from tests.scale.conftest import launcher
from tests.train.conftest import ROOT

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "30", "--seed", "4", "--threads", "1"]
OVERFIT += ["--checkpoint-every", "1", "--keep-checkpoints", "all", "-q"]


def _rows(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: float(v) for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fh)]


def _max_diff(a: Path, b: Path, epochs: slice = slice(None)) -> dict[str, float]:
    ra, rb = _rows(a), _rows(b)
    assert [r["epoch"] for r in ra] == [r["epoch"] for r in rb]
    return {k: max(abs(x[k] - y[k]) for x, y in zip(ra[epochs], rb[epochs], strict=True))
            for k in ra[0]}  # fmt: skip


def _torchrun(args: list[str], tmp_path: Path, env: dict[str, str], timeout: float = 180):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    res = subprocess.run(
        [*cmd, str(launcher(tmp_path)), *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    return res


def _only_run(runs: Path) -> Path:
    (d,) = [p for p in runs.iterdir() if p.is_dir()]
    return d


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The one-process overfit run (in this process), every epoch's checkpoint kept."""
    runs = tmp_path_factory.mktemp("reference")
    cfg = make_run_config(
        go="dna-repair", epochs=30, seed=4, threads=1, checkpoint_every=1, keep_checkpoints="all",
        runs_dir=str(runs), quiet=True,
    )  # fmt: skip
    return run(cfg).run_dir


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, _train_cache) -> Path:
    """The same run with two gloo processes and synchronised BatchNorm."""
    tmp = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "DCELLX_CACHE": str(_train_cache), "PYTHONPATH": str(ROOT)}
    _torchrun([*OVERFIT, "--runs-dir", str(tmp / "runs"), "--ddp", "--sync-bn"], tmp, env)
    return _only_run(tmp / "runs")


def test_two_processes_match_one(ddp_run, reference) -> None:
    diff = _max_diff(ddp_run, reference)
    assert max(diff.values()) <= 1e-4, diff
    config = (ddp_run / "config.json").read_text()
    assert '"world_size": 2' in config and '"sync_bn": true' in config
    assert (ddp_run / "summary.json").exists() and (ddp_run / LAST).exists()
    assert len(list(ddp_run.parent.iterdir())) == 1  # rank 1 wrote nothing of its own


def _cut_at(run_dir: Path, epoch: int, dest: Path) -> Path:
    """A copy of ``run_dir`` as it stood after ``epoch``'s checkpoint (runs keep every one)."""
    shutil.copytree(run_dir, dest)
    shutil.copy(dest / f"checkpoint-e{epoch:05d}.pt", dest / LAST)
    (dest / "summary.json").unlink()
    return dest


def test_two_process_checkpoint_resumes_in_one(ddp_run, reference, tmp_path) -> None:
    cut = _cut_at(ddp_run, 12, tmp_path / ddp_run.name)
    resume(cut, quiet=True)
    assert max(_max_diff(cut, reference).values()) <= 1e-4


def test_one_process_checkpoint_resumes_in_two(reference, tmp_path, cli_env) -> None:
    cut = _cut_at(reference, 12, tmp_path / "runs" / reference.name)
    _torchrun(["overfit", "--resume", str(cut), "--ddp", "--sync-bn", "-q"], tmp_path, cli_env)
    assert max(_max_diff(cut, reference).values()) <= 1e-4
    assert (cut / "summary.json").exists()


def test_train_mode_uneven_parts_match_one_process(tmp_path, cli_env, small_data) -> None:
    """Batches of 33 split 17 + 16: the loss weighting keeps the gradient the global mean's."""
    args = ["train", "--go", "dna-repair", "--data", str(small_data), "--epochs", "2"]
    args += ["--batch-size", "33", "--threads", "1", "--seed", "1", "-q"]
    _torchrun([*args, "--runs-dir", str(tmp_path / "ddp"), "--ddp", "--sync-bn"], tmp_path, cli_env)
    cfg = make_run_config(
        mode="train", go="dna-repair", data=str(small_data), epochs=2, batch_size=33, threads=1,
        seed=1, runs_dir=str(tmp_path / "one"), quiet=True,
    )  # fmt: skip
    one = run(cfg).run_dir
    ddp = _only_run(tmp_path / "ddp")
    diff = _max_diff(ddp, one)
    held_out = ("pearson_eval_bn", "spearman_eval_bn", "val_loss")
    assert max(v for k, v in diff.items() if k not in held_out) <= 1e-4, diff
    assert max(_max_diff(ddp, one, slice(0, 1)).values()) <= 1e-4
    assert max(diff[k] for k in held_out) <= 2e-3, diff


# -- the all-reduce of BatchNorm statistics: forward and gradients of the global batch ----------
def _bn_worker(rank: int, world: int, store_path: str, out_dir: str) -> None:
    import torch.distributed as dist

    from dcellx.nn.norm import batch_norm_rows, set_batch_stat_reducer
    from dcellx.scale.ddp import batch_stat_reducer

    store = dist.FileStore(store_path, world)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
    set_batch_stat_reducer(batch_stat_reducer())
    x, w, b, c = _bn_inputs()
    part = torch.tensor_split(torch.arange(x.shape[0]), world)[rank]
    xr = x[part].clone().requires_grad_(True)
    rm, rv = torch.zeros(x.shape[1], dtype=x.dtype), torch.ones(x.shape[1], dtype=x.dtype)
    out = batch_norm_rows(xr, rm, rv, w, b, True, 0.1, 1e-5)
    (out * c[part]).sum().backward()
    torch.save({"out": out.detach(), "gx": xr.grad, "gw": w.grad, "gb": b.grad, "rm": rm, "rv": rv},
               f"{out_dir}/rank{rank}.pt")  # fmt: skip
    set_batch_stat_reducer(None)
    dist.destroy_process_group()


def _bn_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 6, generator=g, dtype=torch.float64) * 3 + 1
    x[:, 0] = 0.5  # a constant feature, as many are within a perturbation batch
    w = (torch.rand(6, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    b = torch.randn(6, generator=g, dtype=torch.float64).requires_grad_(True)
    return x, w, b, torch.randn(10, 6, generator=g, dtype=torch.float64)


def test_stat_reducer_gives_full_batch_forward_and_gradients(tmp_path) -> None:
    torch.multiprocessing.spawn(
        _bn_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2
    )
    x, w, b, c = _bn_inputs()
    x = x.clone().requires_grad_(True)
    rm, rv = torch.zeros(6, dtype=x.dtype), torch.ones(6, dtype=x.dtype)
    out = F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5)
    (out * c).sum().backward()
    parts = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    torch.testing.assert_close(torch.cat([p["out"] for p in parts]), out.detach())
    torch.testing.assert_close(torch.cat([p["gx"] for p in parts]), x.grad)
    # each rank holds its own share of the affine gradients; DDP sums them (then averages)
    torch.testing.assert_close(parts[0]["gw"] + parts[1]["gw"], w.grad)
    torch.testing.assert_close(parts[0]["gb"] + parts[1]["gb"], b.grad)
    for p in parts:  # running statistics of the global batch on every rank
        torch.testing.assert_close(p["rm"], rm)
        torch.testing.assert_close(p["rv"], rv)


def test_sigterm_stops_every_rank_at_a_checkpoint(tmp_path, cli_env) -> None:
    """torchrun forwards TERM; the ranks agree on the step, rank 0 checkpoints, the others wait
    for it (so ``srun --kill-on-bad-exit`` cannot cut the write short), and any world size
    resumes. Rank 0 sends the TERM to torchrun itself after its 21st step
    (``DCELLX_TEST_SIGNAL``), so the run is interrupted mid-way however fast it goes."""
    runs = tmp_path / "runs"
    args = [*OVERFIT[:3], "--epochs", "400", "--seed", "5", "--threads", "1", "-q"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    cmd += [str(launcher(tmp_path)), *args, "--runs-dir", str(runs), "--ddp", "--sync-bn"]
    env = {**cli_env, TEST_ENV: "SIGTERM@21:parent"}
    res = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=240)
    err = res.stderr
    run_dir = _only_run(runs)
    assert err.count("SIGTERM: checkpoint written") == 1, err[-3000:]  # rank 0 reports
    state = torch.load(run_dir / LAST, weights_only=True)
    assert state["epoch"] == len(_rows(run_dir)) and not (run_dir / "summary.json").exists()
    assert 21 <= state["epoch"] < 400
    assert resume(run_dir, quiet=True).summary["epochs"] == 400
