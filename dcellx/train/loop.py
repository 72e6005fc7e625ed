"""The training loop: ``run(cfg)`` (a fresh run directory) and ``resume(run_dir)``.

``overfit``: one fixed batch; every epoch is one training step, whose own forward pass gives the
train-mode-BatchNorm predictions (so running statistics move once per step), followed by a separate
no-grad eval-mode forward on the same batch (running statistics). "Best" is eval-mode Pearson.

``train``: a seeded train/val split of the training file; an epoch is the training split in
minibatches whose order depends only on (seed, epoch), so a resumed run needs no RNG state to
replay it. Eval-mode metrics are on the validation split, whose root MSE drives early stopping and
the plateau scheduler; the dataset's own test file is scored once, with the best weights.

Determinism: the model is initialised from ``init_term_state(seed)``, nothing else draws random
numbers, and torch's thread count is fixed from the config: the same config gives the same
``metrics.csv`` on CPU, and a killed run resumed from its checkpoint gives the same file too.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from torch import nn

from dcellx.errors import ConfigError, InputError
from dcellx.nn.loss import alpha_at, dcell_loss
from dcellx.train import checkpoint
from dcellx.train.checkpoint import BEST, LAST
from dcellx.train.config import RunConfig, load_run_config, resume_changes
from dcellx.train.data import RunData, Split, load_run_data
from dcellx.train.metrics import COLUMNS, TRAIN_COLUMNS, MetricsLog, pearson, regression_metrics
from dcellx.train.metrics import spearman as spearman_r
from dcellx.train.models import build_model
from dcellx.train.plots import draw_curves
from dcellx.train.progress import EpochProgress
from dcellx.train.rundir import (
    create_run_dir,
    environment,
    read_json,
    recipe_sources,
    run_lock,
    write_json,
)

EVAL_BATCH = 512  # rows per no-grad forward when scoring a split
THRESHOLD = 0.9  # summary: first epoch whose Pearson reaches this


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]


class RunInterrupted(Exception):  # noqa: N818 -- a control-flow signal, not an error
    """SIGTERM/SIGINT arrived: a checkpoint was written; exit with ``exit_code`` (143 / 130)."""

    def __init__(self, signum: int, run_dir: Path) -> None:
        self.signum, self.run_dir, self.exit_code = signum, run_dir, 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"{name}: checkpoint written; continue with --resume {run_dir}")


@dataclass
class LoopState:
    """Everything besides model/optimiser/scheduler that a resumed loop must continue from."""

    epoch: int = 0  # completed epochs
    step: int = 0  # train mode: steps already done in epoch + 1 (after a mid-epoch signal)
    best_pearson: float = -math.inf  # best eval-mode Pearson
    best_epoch: int = 0
    best_val_loss: float = math.inf
    bad_epochs: int = 0
    stopped_early: bool = False
    fit_streak: int = 0  # overfit: consecutive epochs with train-mode r >= fit_stop_pearson
    elapsed: float = 0.0  # training seconds before this process
    partial: dict[str, Any] | None = None  # train mode: the interrupted epoch's accumulators


class _Signals:
    """Turn SIGTERM/SIGINT into a flag the loop checks after each step (a step is never cut in
    half, so the checkpoint is consistent). A second Ctrl-C aborts at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


class _BestWeights:
    """The model at its best epoch, held in memory (one preallocated copy, ``copy_`` on each
    improvement) and written as ``weights-best.pt`` only with checkpoints and at the end."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.state: dict[str, torch.Tensor] | None = None
        self.dirty = False

    def capture(self) -> None:
        current = self.model.state_dict()
        if self.state is None:
            self.state = {k: v.detach().clone() for k, v in current.items()}
        else:
            for k, v in current.items():
                self.state[k].copy_(v)
        self.dirty = True

    def term_state(self) -> dict[str, torch.Tensor]:
        """Term-named copy of the best weights (swapped in and out of the live model)."""
        assert self.state is not None
        live = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.state)
        out = self.model.term_state_dict()
        self.model.load_state_dict(live)
        return out


class _MemoryLog:
    """The metrics log of a rank that writes nothing (``--ddp``, rank > 0)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def close(self) -> None:
        pass


def _check_device(device: str) -> torch.device:
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r}: MPS is not available here")
    return dev


def _scheduler(cfg: RunConfig, opt: torch.optim.Optimizer):
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.min_lr)
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=cfg.min_lr,
        )  # fmt: skip
    return None


@torch.no_grad()
def predict_split(model: nn.Module, split: Split, rows: np.ndarray, device: torch.device):
    """Eval-mode root predictions (normalised units) for ``rows`` of ``split``, float64."""
    model.eval()
    out = []
    for i in range(0, len(rows), EVAL_BATCH):
        root, _ = model(split.batch(rows[i : i + EVAL_BATCH]).to(device))
        out.append(root.double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def score_splits(model: nn.Module, data: RunData, device: torch.device) -> dict[str, dict]:
    """Pearson, Spearman, MSE, R^2 (original units, eval mode) on every split of ``data``."""
    out = {}
    for name, split in data.parts().items():
        pred = data.labels.inverse(predict_split(model, split, split.rows, device))
        out[name] = regression_metrics(pred, split.raw[split.rows])
    return out


# -- one epoch ---------------------------------------------------------------------------------
def _step(model, opt, batch, cfg: RunConfig, alpha: float, l2, comm=None, n_global: int = 0):
    """One optimiser step (BatchNorm in train mode); returns its own root predictions and losses.
    Under ``--ddp`` (``comm``), ``batch`` is this rank's part of a global batch of ``n_global``
    rows and the predictions and losses returned are the global batch's."""
    if comm is not None:
        return comm.step(comm.model, opt, batch, n_global, cfg.model, alpha, l2)
    model.train()
    root, aux = model(batch)
    parts = dcell_loss(root, aux, batch.y, cfg.model, alpha=alpha, l2_params=l2)
    opt.zero_grad(set_to_none=True)
    parts.total.backward()
    opt.step()
    return root.detach(), (parts.total.item(), parts.root.item(), parts.aux.item())


def _overfit_epoch(
    model, opt, batch, y: np.ndarray, cfg: RunConfig, alpha: float, l2, comm=None, part=None
) -> dict:
    """``part``: this rank's share of ``batch`` under ``--ddp``; rank 0 alone scores the batch
    (the others get its row: see ``_fit``)."""
    if comm is None:
        root, (total, root_loss, aux_loss) = _step(model, opt, batch, cfg, alpha, l2)
    else:
        root, (total, root_loss, aux_loss) = _step(model, opt, part, cfg, alpha, l2, comm, len(y))
        if not comm.is_main:
            return {}
    p_train = root.double().cpu().numpy()
    model.eval()
    with torch.no_grad():
        p_eval = model(batch)[0].double().cpu().numpy()
    # z-scoring is a positive affine map, so these equal the correlations in original units
    return {
        "loss_total": total,
        "loss_root": root_loss,
        "loss_aux": aux_loss,
        "pearson_train_bn": pearson(p_train, y),
        "spearman_train_bn": spearman_r(p_train, y),
        "pearson_eval_bn": pearson(p_eval, y),
        "spearman_eval_bn": spearman_r(p_eval, y),
    }


def _train_epoch(
    model, opt, data: RunData, cfg, epoch, alpha, l2, dev, state, stop, comm=None
) -> dict | None:
    """Minibatches over the training split; ``None`` if a signal stopped it mid-epoch (the
    accumulators are then in ``state.partial``, the position in ``state.step``). Under ``--ddp``
    (``comm``) every rank walks the same global batches and trains on its part of each."""
    split = data.train
    order = np.random.default_rng([cfg.seed, epoch]).permutation(split.rows)
    chunks = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    if len(chunks[-1]) < 2 or (comm is not None and not comm.usable(len(chunks[-1]))):
        chunks.pop()  # BatchNorm cannot use the statistics of a single sample
    acc = state.partial or {"n": 0, "sums": [0.0, 0.0, 0.0], "pred": [], "y": []}
    for k in range(state.step, len(chunks)):
        rows = chunks[k]
        batch = split.batch(rows if comm is None else comm.shard(rows)).to(dev)
        root, losses = _step(model, opt, batch, cfg, alpha, l2, comm, len(rows))
        acc["n"] += len(rows)
        acc["sums"] = [s + v * len(rows) for s, v in zip(acc["sums"], losses, strict=True)]
        acc["pred"].append(root.double().cpu())
        acc["y"].append(torch.from_numpy(split.z[rows]).double())
        if comm is not None:
            stop.signum = comm.agree_signal(stop.signum)
        if stop.signum is not None and k + 1 < len(chunks):
            acc["pred"], acc["y"] = [torch.cat(acc["pred"])], [torch.cat(acc["y"])]
            state.step, state.partial = k + 1, acc
            return None
    if comm is not None and not comm.is_main:
        return {}  # rank 0 scores the epoch
    p_train, y_train = torch.cat(acc["pred"]).numpy(), torch.cat(acc["y"]).numpy()
    p_val = predict_split(model, data.val, data.val.rows, dev)
    y_val = data.val.z[data.val.rows].astype(np.float64)
    total, root_loss, aux_loss = (s / acc["n"] for s in acc["sums"])
    return {
        "loss_total": total,
        "loss_root": root_loss,
        "loss_aux": aux_loss,
        "pearson_train_bn": pearson(p_train, y_train),
        "spearman_train_bn": spearman_r(p_train, y_train),
        "pearson_eval_bn": pearson(p_val, y_val),
        "spearman_eval_bn": spearman_r(p_val, y_val),
        "val_loss": float(np.mean((p_val - y_val) ** 2)),
    }


# -- run directory content ---------------------------------------------------------------------
def resolved_config(cfg: RunConfig, data: RunData, model: nn.Module) -> dict[str, Any]:
    onto = data.onto
    described = data.describe()
    if cfg.mode == "overfit":
        described["batch_rows"] = data.train.rows.tolist()
    return {
        "run": cfg.model_dump(mode="json"),
        "ontology": {
            "go": cfg.go,
            "name": onto.name,
            "content_hash": onto.content_hash,
            "terms": onto.num_terms,
            "genes": onto.num_genes,
            "recipe": onto.meta.get("recipe"),
            "control": onto.meta.get("control"),
        },
        "data": {"name": cfg.data, **described},
        "labels": dataclasses.asdict(data.labels),
        "model": {"class": type(model).__name__, "params": model.num_parameters()},
    }


def _stop_rule(cfg: RunConfig) -> str:
    if cfg.mode == "train":
        return f"validation loss: no improvement for {cfg.early_stopping_patience} epochs"
    return f"train-mode Pearson >= {cfg.fit_stop_pearson} for {cfg.fit_stop_epochs} epochs"


def _first_reaching(rows: list[dict], key: str, threshold: float) -> int | None:
    for r in rows:
        v = r.get(key)
        if v is not None and v >= threshold:
            return int(r["epoch"])
    return None


def _max(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    return max(vals) if vals else None


def summarize(rows: list[dict], cfg: RunConfig, state: LoopState, params: int) -> dict[str, Any]:
    """``summary.json``: best/final Pearson in both BN modes, epochs to 0.9, time."""
    last = rows[-1] if rows else {}
    seconds = float(last.get("seconds") or 0.0)
    out = {
        "status": "stopped_early" if state.stopped_early else "completed",
        "stop_rule": _stop_rule(cfg) if state.stopped_early else None,
        "mode": cfg.mode,
        "variant": cfg.variant,
        "seed": cfg.seed,
        "epochs": int(last.get("epoch", 0)),
        "epochs_planned": cfg.epochs,
        "best_pearson_eval_bn": state.best_pearson if state.best_epoch else None,
        "best_epoch": state.best_epoch or None,
        "best_pearson_train_bn": _max(rows, "pearson_train_bn"),
        "final_pearson_train_bn": last.get("pearson_train_bn"),
        "final_pearson_eval_bn": last.get("pearson_eval_bn"),
        "final_spearman_train_bn": last.get("spearman_train_bn"),
        "final_spearman_eval_bn": last.get("spearman_eval_bn"),
        "final_loss_total": last.get("loss_total"),
        "final_loss_root": last.get("loss_root"),
        f"epochs_to_{THRESHOLD}_eval_bn": _first_reaching(rows, "pearson_eval_bn", THRESHOLD),
        f"epochs_to_{THRESHOLD}_train_bn": _first_reaching(rows, "pearson_train_bn", THRESHOLD),
        "params": params,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / len(rows), 5) if rows else None,
    }
    if cfg.mode == "train":
        out["best_val_loss"] = state.best_val_loss if math.isfinite(state.best_val_loss) else None
    return out


# -- the loop ----------------------------------------------------------------------------------
def run(cfg: RunConfig, console: Console | None = None, comm=None) -> RunResult:
    """Train ``cfg`` into a new run directory under ``cfg.runs_dir``. ``comm``: a
    ``dcellx.scale.ddp.DDPContext`` (``--ddp``); rank 0 creates and writes the directory."""
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    dev = _check_device(cfg.device)
    data = load_run_data(cfg)  # every input error surfaces before a run directory exists
    model = build_model(data.onto, cfg.model, cfg.variant, cfg.seed, data.model_pairs(cfg.variant))
    opt, sched = _optimiser(cfg, model, dev)  # and every model or optimiser error
    run_dir = None
    if comm is None or comm.is_main:
        config = resolved_config(cfg, data, model)
        if comm is not None:
            config["distributed"] = comm.describe()
        sources = recipe_sources(data.onto.meta)
        env = environment(data.onto.content_hash, cfg.data, cfg.test_data, sources)
        # written together; a directory whose files cannot be written is removed again
        files = {"config.json": config, "env.json": env}
        run_dir = create_run_dir(cfg.runs_dir, cfg.variant, cfg.seed, files)
    if comm is not None:
        run_dir = comm.from_main(run_dir)
    with run_lock(run_dir) if comm is None or comm.is_main else nullcontext():
        return _fit(cfg, data, model, opt, sched, dev, run_dir, None, console, comm)


def resume(
    run_dir: str | Path,
    console: Console | None = None,
    quiet: bool | None = None,
    comm=None,
    mode: str | None = None,
    flags: dict[str, Any] | None = None,
):
    """Continue ``run_dir`` from ``checkpoint-last.pt`` (from scratch if it has none yet), with
    any world size under ``--ddp`` (``comm``: every rank reads the checkpoint). A run another
    live process holds (``run.lock``) is refused. ``mode`` and ``flags`` (``preset``, ``model``,
    ``ontology``, ``fields``, ``sets``, as ``make_run_config`` takes them) are what the command
    line gave: one that contradicts the run is refused, a longer ``epochs`` is applied
    (``resume_changes``)."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise InputError(run_dir, None, "not a run directory (no config.json)")
    changes: dict[str, Any] = {}
    if mode is not None or flags is not None:  # the command line's view of the run: checked
        recorded = load_run_config(read_json(run_dir / "config.json")["run"])
        changes = resume_changes(recorded, run_dir, mode, **(flags or {}))
    if (run_dir / "summary.json").is_file():
        if changes:
            given = ", ".join("--" + k.replace("_", "-") for k in changes)
            raise ConfigError(f"{run_dir} has finished (summary.json): {given} cannot change it")
        return RunResult(run_dir, read_json(run_dir / "summary.json"))  # already finished
    with run_lock(run_dir) if comm is None or comm.is_main else nullcontext():
        return _resume(run_dir, console, quiet, comm, changes)


def _apply_changes(
    cfg: RunConfig, changes: dict[str, Any], done: int, run_dir: Path, config: dict | None, console
) -> RunConfig:
    """The ``resume_changes`` a resumed run takes: checked against its state, recorded in
    ``config.json`` (``config`` is ``None`` on ranks that write nothing) and said."""
    if "epochs" in changes:
        n = changes["epochs"]
        if cfg.scheduler == "cosine":
            raise ConfigError(
                f"--epochs {n}: the cosine schedule of {run_dir} spans its {cfg.epochs} planned "
                "epochs and cannot change on --resume"
            )
        if n < done:
            raise ConfigError(f"--epochs {n}: {run_dir} has already completed {done} epochs")
    said = ", ".join(f"{k} {getattr(cfg, k)} -> {v}" for k, v in changes.items())
    cfg = cfg.model_copy(update=changes)  # values validated by resume_changes
    if config is not None:
        config["run"].update(cfg.model_dump(mode="json", include=set(changes)))
        write_json(run_dir / "config.json", config)
        if console is not None:
            line = f"{run_dir}: resuming with {said} (config.json updated)"
            console.print(line, highlight=False, soft_wrap=True)
    return cfg


def _resume(
    run_dir: Path, console: Console | None, quiet: bool | None, comm, changes: dict[str, Any]
) -> RunResult:
    config = read_json(run_dir / "config.json")
    cfg = load_run_config(config["run"])
    if quiet is not None:
        cfg.quiet = quiet
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    dev = _check_device(cfg.device)
    data = load_run_data(cfg)
    if data.onto.content_hash != config["ontology"]["content_hash"]:
        raise ConfigError(
            f"ontology {cfg.go!r} now compiles to {data.onto.content_hash[:12]}, the run was "
            f"trained on {config['ontology']['content_hash'][:12]}: its inputs changed"
        )
    model = build_model(data.onto, cfg.model, cfg.variant, cfg.seed, data.model_pairs(cfg.variant))
    opt, sched = _optimiser(cfg, model, dev)
    if comm is None or comm.is_main:
        checkpoint.remove_stale_temps(run_dir)
    has_ckpt = (run_dir / LAST).exists()
    ckpt = _load_own(run_dir / LAST, cfg, data.onto.content_hash) if has_ckpt else None
    if changes:
        writes = config if comm is None or comm.is_main else None
        done = 0 if ckpt is None else int(ckpt["epoch"])
        cfg = _apply_changes(cfg, changes, done, run_dir, writes, console)
    return _fit(cfg, data, model, opt, sched, dev, run_dir, ckpt, console, comm)


def _load_own(path: Path, cfg: RunConfig, onto_hash: str) -> dict[str, Any]:
    """A checkpoint of this run, refused (one line) if it was written for another ontology or
    variant: its GO-term-named tensors would not fit the model (a ``KeyError`` before)."""
    state = checkpoint.load(path)
    theirs = str(state.get("ontology_hash"))
    if theirs != onto_hash:
        raise InputError(
            path, None, f"checkpoint of another ontology (content hash {theirs[:12]}; this run's "
            f"{cfg.go!r} is {onto_hash[:12]}): it belongs to another run",
        )  # fmt: skip
    if state.get("variant") != cfg.variant:
        raise InputError(
            path, None, f"checkpoint of variant {state.get('variant')!r}, this run is "
            f"{cfg.variant!r}: it belongs to another run",
        )  # fmt: skip
    return state


def _optimiser(cfg: RunConfig, model: nn.Module, dev: torch.device):
    """The model on ``dev`` and its Adam optimiser and scheduler (built before any file is
    written, so that an optimiser error leaves no run directory)."""
    model.to(dev)
    # fused Adam: one kernel per parameter tensor; the foreach version costs 0.19 s instead of
    # 0.04 s per step on the 70 M parameters of the full-GO paper model (memory-bound either way)
    fused = dev.type in ("cpu", "cuda")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas, fused=fused)
    return opt, _scheduler(cfg, opt)


@dataclass
class _Ctx:
    """What checkpoints are made of (kept together to keep ``_fit`` readable)."""

    cfg: RunConfig
    data: RunData
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: Any
    best: _BestWeights
    run_dir: Path
    saved_epoch: int = field(default=-1)
    writes: bool = True  # False on ranks other than 0 under --ddp

    def best_payload(self, state: LoopState) -> dict[str, Any]:
        return {
            "model": self.best.term_state(),
            "epoch": state.best_epoch,
            "pearson_eval_bn": state.best_pearson,
            **self.meta(),
        }

    def meta(self) -> dict[str, Any]:
        return {
            "config": self.cfg.model_dump(mode="json"),
            "variant": self.cfg.variant,
            "ontology_hash": self.data.onto.content_hash,
            "labels": dataclasses.asdict(self.data.labels),
        }

    def save(self, state: LoopState) -> None:
        """weights-best.pt (if it changed) then checkpoint-last.pt, each atomically."""
        if not self.writes:
            self.saved_epoch = state.epoch
            return
        if self.best.dirty:
            checkpoint.save(self.run_dir / BEST, self.best_payload(state))
            self.best.dirty = False
        payload = {
            "epoch": state.epoch,
            "loop": dataclasses.asdict(state),
            "model": self.model.term_state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": None if self.sched is None else self.sched.state_dict(),
            "rng": checkpoint.rng_state(),
            **self.meta(),
        }
        checkpoint.save(self.run_dir / LAST, payload)
        self.saved_epoch = state.epoch
        if self.cfg.keep_checkpoints == "all" and state.step == 0:
            checkpoint.keep_copy(self.run_dir / LAST, state.epoch)


def _fit(
    cfg, data: RunData, model, opt, sched, dev, run_dir: Path, ckpt, console, comm=None
) -> RunResult:
    ctx = _Ctx(cfg, data, model, opt, sched, _BestWeights(model), run_dir)
    ctx.writes = comm is None or comm.is_main
    state = LoopState()
    if ckpt is not None:
        if (run_dir / BEST).exists():  # the best weights so far back into memory
            best = _load_own(run_dir / BEST, cfg, data.onto.content_hash)
            model.load_term_state_dict(best["model"])
            ctx.best.capture()
            ctx.best.dirty = False
        model.load_term_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        if sched is not None:
            sched.load_state_dict(ckpt["scheduler"])
        checkpoint.set_rng_state(ckpt["rng"])
        state = LoopState(**ckpt["loop"])
        ctx.saved_epoch = state.epoch
    resuming = ckpt is not None or (run_dir / "metrics.csv").exists()
    columns = TRAIN_COLUMNS if cfg.mode == "train" else COLUMNS
    if ctx.writes:
        log = MetricsLog(run_dir, columns, resume_epoch=state.epoch if resuming else None)
    else:
        log = _MemoryLog()
    l2 = model.l2_parameters()
    batch = data.train.batch(data.train.rows).to(dev) if cfg.mode == "overfit" else None
    part = None
    if comm is not None:  # after the checkpoint is loaded: DDP broadcasts rank 0's state
        comm.check_batch_size(cfg.batch_size)
        comm.wrap(model)
        if batch is not None:
            part = data.train.batch(comm.shard(data.train.rows)).to(dev)
    y_batch = data.train.z[data.train.rows].astype(np.float64)
    title = f"{cfg.mode} {cfg.variant} s{cfg.seed}"
    progress = EpochProgress(title, cfg.epochs, state.epoch, cfg.quiet or not ctx.writes, console)
    # A full-GO snapshot costs ~30 ms; skip it where nothing would use it (an overfit sweep run).
    keep_best = ctx.writes and not (cfg.mode == "overfit" and cfg.keep_checkpoints == "none")
    t0 = last_ckpt = time.perf_counter()
    try:
        with _Signals() as stop:
            last_epoch = state.epoch if state.stopped_early else cfg.epochs
            for epoch in range(state.epoch + 1, last_epoch + 1):
                lr = opt.param_groups[0]["lr"]  # the rate this epoch's steps use
                alpha = alpha_at(cfg.model, epoch - 1)
                if cfg.mode == "overfit":
                    row = _overfit_epoch(model, opt, batch, y_batch, cfg, alpha, l2, comm, part)
                else:
                    row = _train_epoch(
                        model, opt, data, cfg, epoch, alpha, l2, dev, state, stop, comm
                    )
                if comm is not None and row is not None:  # rank 0's scores decide for all
                    row = comm.from_main(row)
                    stop.signum = comm.agree_signal(stop.signum)
                if row is None:  # a signal arrived mid-epoch: save the position and stop
                    state.elapsed += time.perf_counter() - t0
                    ctx.save(state)
                    raise RunInterrupted(stop.signum, run_dir)
                row.update(epoch=epoch, lr=lr, seconds=state.elapsed + time.perf_counter() - t0)
                log.append(row)
                r = row["pearson_eval_bn"]
                if math.isfinite(r) and (state.best_epoch == 0 or r > state.best_pearson):
                    state.best_pearson, state.best_epoch = r, epoch
                    if keep_best:
                        ctx.best.capture()
                # overfit has no validation split: the plateau scheduler watches the training loss
                monitored = row["val_loss"] if cfg.mode == "train" else row["loss_total"]
                if cfg.scheduler == "plateau":
                    sched.step(monitored)
                elif sched is not None:
                    sched.step()
                if cfg.mode == "train":
                    if monitored < state.best_val_loss:
                        state.best_val_loss, state.bad_epochs = monitored, 0
                    else:
                        state.bad_epochs += 1
                    state.stopped_early = state.bad_epochs >= cfg.early_stopping_patience
                elif cfg.fit_stop_pearson is not None:
                    fit = row["pearson_train_bn"] >= cfg.fit_stop_pearson
                    state.fit_streak = state.fit_streak + 1 if fit else 0
                    state.stopped_early = state.fit_streak >= cfg.fit_stop_epochs
                state.epoch, state.step, state.partial = epoch, 0, None
                progress.update(epoch, row, state.best_pearson, state.best_epoch)
                now = time.perf_counter()
                due = (
                    epoch % cfg.checkpoint_every == 0
                    if cfg.checkpoint_every
                    else now - last_ckpt >= cfg.checkpoint_seconds
                )
                if stop.signum is not None or (due and cfg.keep_checkpoints != "none"):
                    state.elapsed += now - t0
                    ctx.save(state)
                    t0 = last_ckpt = time.perf_counter()  # checkpoint writes are not training
                if stop.signum is not None:
                    raise RunInterrupted(stop.signum, run_dir)
                if state.stopped_early:
                    break
    finally:
        progress.close()
        log.close()
    state.elapsed += time.perf_counter() - t0
    return _finish(ctx, state, log.rows, dev)


def _finish(ctx: _Ctx, state: LoopState, rows: list[dict], dev) -> RunResult:
    """Final checkpoint per ``keep_checkpoints``, test metrics, summary.json, curves.png."""
    cfg, run_dir, model = ctx.cfg, ctx.run_dir, ctx.model
    if not ctx.writes:  # --ddp: rank 0 writes and scores
        return RunResult(run_dir, {})
    keep = cfg.keep_checkpoints
    if keep in ("last", "all") and ctx.saved_epoch != state.epoch:
        ctx.save(state)
    if keep in ("last", "all", "best") and ctx.best.dirty:
        checkpoint.save(run_dir / BEST, ctx.best_payload(state))
        ctx.best.dirty = False
    if keep in ("best", "none"):
        (run_dir / LAST).unlink(missing_ok=True)
    if keep == "none":
        (run_dir / BEST).unlink(missing_ok=True)
    params = read_json(run_dir / "config.json")["model"]["params"]  # counted once, at the start
    summary = summarize(rows, cfg, state, params)
    summary["run_id"] = run_dir.name
    summary["ontology_content_hash"] = ctx.data.onto.content_hash
    if cfg.mode == "train":
        if ctx.best.state is not None:
            model.load_state_dict(ctx.best.state)  # score the weights validation chose
        # metrics.{train,val,test}.{pearson,spearman,mse,r2,n}; test_* kept flat for compare.csv
        summary["metrics"] = score_splits(model, ctx.data, dev)
        summary["split"] = ctx.data.split
        summary.update({f"test_{k}": v for k, v in summary["metrics"].get("test", {}).items()})
    write_json(run_dir / "summary.json", summary)
    title = f"{run_dir.name}  ({cfg.go}, {cfg.data}, batch {cfg.batch_size})"
    if rows:
        draw_curves(rows, run_dir / "curves.png", title)
    return RunResult(run_dir, summary)
