"""dcellx's fast engine against the users' previous code, torchcell's DCell, in one process.

Measured per ``--batch-sizes``: one training step (forward, loss, backward, fused Adam; no data
loading) of ``dcellx.nn.dcell.DCell`` (``--preset torchcell``, ``gene_state="present-one"``) and of
torchcell 1.8.4's ``DCell`` + ``DCellLoss(alpha=0.3, aux_reduction="mean")`` on the same ontology,
state and real DNA-repair batch: what the users gain by switching code. torchcell's two files are
read from the public PyPI wheel at run time, unmodified and never committed here; its graph and
batch are the PyG objects ``dcellx.interop.pyg`` makes for users. "Same function" is shown, not
assumed: on ``--go dna-repair`` always, on ``--go`` with ``--check``, dcellx's state is copied
into the peer in float64 and one training-mode step of each gives the relative differences of
root predictions, auxiliary outputs, loss and all gradients (~1e-15):

    python benchmarks/bench_peer.py [--go 2017] [--batch-sizes 32 256] [--wheel PATH] [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
import types
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch
from rich.console import Console
from rich.table import Column, Table

from dcellx.batch import PerturbationBatch, encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.interop.pyg import DeletionProcessor, to_heterodata
from dcellx.io.registry import cache_dir
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.ontology.compiled import CompiledOntology

VERSION = "1.8.4"
WHEEL = f"torchcell-{VERSION}-py3-none-any.whl"
PINNED = "cc87c86c14f14d02045734c4c6deab2b94c4fc2ee51848da78807af2b01364fc"
PEER_FILES = {"torchcell.models.dcell": "torchcell/models/dcell.py",
              "torchcell.losses.dcell": "torchcell/losses/dcell.py"}  # fmt: skip
TOLERANCE = 1e-9
Slot = tuple[str, torch.Tensor, torch.Tensor | None]  # name, peer tensor, peer columns
err = Console(stderr=True, soft_wrap=True)  # progress, the peer's prints: stdout is for --json


def die(msg: str) -> NoReturn:
    print(f"bench_peer: {msg}", file=sys.stderr)
    sys.exit(2)


def fetch_wheel(path: Path | None) -> tuple[Path, str]:
    """The wheel (``--wheel``, else the cache, else ``pip download``) and its verified sha256."""
    if path is None and not (path := cache_dir() / "peer" / WHEEL).is_file():
        if os.environ.get("DCELLX_OFFLINE", "").strip().lower() not in ("", "0", "false", "no"):
            die(f"DCELLX_OFFLINE is set and {path} is missing; pass --wheel PATH")
        # the wheel declares python>=3.13; its two files run fine on 3.10+
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--python-version", "3.13"]
        cmd += ["--only-binary=:all:", f"torchcell=={VERSION}", "-d", str(path.parent)]
        if subprocess.run(cmd, stdout=sys.stderr).returncode or not path.is_file():
            die(f"could not download torchcell=={VERSION}; pass --wheel PATH")
    sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "(no such file)"
    if sha != PINNED:
        die(f"{path}: sha256 {sha}, not torchcell=={VERSION}'s pinned {PINNED}")
    return path, sha


def load_peer(wheel: Path) -> tuple[type, type]:
    """torchcell's ``DCell`` and ``DCellLoss`` classes, exec'd unmodified from the wheel."""
    try:  # what dcell.py imports beyond dcellx's own dependencies
        for name in ("dotenv", "hydra", "omegaconf", "torch_geometric"):
            importlib.import_module(name)
    except ImportError as exc:
        die(f"{exc.name} is missing (torchcell's DCell imports it): pip install -e '.[peer]'")
    sys.path.insert(0, str(wheel))  # zipimport: the package __init__ and torchcell.timestamp
    importlib.import_module("torchcell")
    with zipfile.ZipFile(wheel) as z:
        for name, member in PEER_FILES.items():
            # a fresh module: torchcell.models' own __init__ imports unrelated heavy models
            mod = sys.modules[name] = types.ModuleType(name)
            mod.__file__ = f"{wheel}/{member}"
            exec(compile(z.read(member).decode(), mod.__file__, "exec"), mod.__dict__)
    dcell, loss = (sys.modules[name] for name in PEER_FILES)
    return dcell.DCell, loss.DCellLoss


def peer_slots(peer, onto: CompiledOntology) -> Iterator[Slot]:
    """(dcellx term-state name, peer tensor, peer columns in dcellx's order or None) per tensor.
    The peer's input is [children in its own order | direct genes, or one constant-0 column]."""
    for t, tid in enumerate(onto.term_ids):
        sub, head, off, pos = peer.subsystems[str(t)], peer.linear_heads[str(t)], {}, 0
        for c in peer.parent_to_children.get(t, []):
            off[c], pos = pos, pos + peer.term_output_dims[c]
        cols = [torch.arange(off[c], off[c] + peer.term_output_dims[c]) for c in onto.children(t)]
        cols.append(pos + torch.arange(peer.term_num_genes[t]))
        head_name = "head" if t == onto.root else f"aux.{tid}"
        mods = {f"terms.{tid}": sub.linear, f"norms.{tid}": sub.batch_norm, head_name: head}
        for prefix, m in mods.items():
            for k, v in [*m.named_parameters(), *m.named_buffers()]:
                if k != "num_batches_tracked":  # dcellx counts steps once, in norm_steps
                    yield f"{prefix}.{k}", v, torch.cat(cols) if v is sub.linear.weight else None


def load_peer_state(peer, onto: CompiledOntology, state: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, p, cols in peer_slots(peer, onto):
            if cols is None:
                p.copy_(state[name])
            else:  # the constant-0 column of a term without direct genes gets weight 0
                p.zero_()
                p[:, cols] = state[name]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:  # max |a - b| / max |b|
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


def build_peer(peer_cls: type, graph) -> tuple[torch.nn.Module, float]:
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # its __init__ prints progress lines
        peer = peer_cls(graph, min_subsystem_size=20, subsystem_ratio=0.3, output_size=1)
    return peer, time.perf_counter() - t0


def check(onto, cfg, peer_cls, loss_cls, graph, batch: PerturbationBatch) -> dict:
    """One float64 training-mode step of both from one state: outputs, loss, gradients."""
    layout = ModelLayout(onto, cfg)
    state = init_term_state(layout, seed=0, dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    for k in [k for k in state if k.startswith("norms.") and k.endswith(("weight", "bias"))]:
        state[k] = state[k] + 0.1 * torch.randn(state[k].shape, generator=gen, dtype=torch.float64)
    fast = DCell(onto, cfg, layout).double()
    fast.load_term_state_dict(state)
    peer, init_s = build_peer(peer_cls, graph)
    peer.double()
    assert all(peer.term_output_dims[t] == layout.width[t] for t in range(onto.num_terms))
    reordered = sum(peer.parent_to_children.get(t, []) != onto.children(t).tolist()
                    for t in range(onto.num_terms))  # fmt: skip
    load_peer_state(peer, onto, state)
    for sub in peer.subsystems.values():  # gene states leave ``.float()`` as float32 0/1: exact
        sub.register_forward_pre_hook(lambda m, a: (a[0].double(),))
    y = batch.y[:, 0].double()
    root, aux = fast(batch)
    pred, outs = peer(graph, DeletionProcessor(graph, cfg.deletion_rule).from_batch(batch, onto))
    loss = dcell_loss(root, aux, y, cfg).total
    p_loss = loss_cls(alpha=0.3, aux_reduction="mean")(pred, outs, y)[0]
    torch.autograd.backward([loss, p_loss])
    # the root is the last term: the others are 0 .. root - 1, dcellx's auxiliary columns
    p_aux = torch.stack([outs["linear_outputs"][f"GO:{t}"] for t in range(onto.root)], 1)
    with torch.no_grad():  # the engine's gradients in term names: parameters swapped with them
        for p in fast.parameters():
            p.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
        fg = fast.term_state_dict()
    pairs = [(p.grad if c is None else p.grad[:, c], fg[n]) for n, p, c in peer_slots(peer, onto)
             if p.grad is not None]  # fmt: skip
    grads = [torch.cat([x.flatten() for x in side]) for side in zip(*pairs, strict=True)]
    out = {"go": onto.name, "batch_size": batch.size, "root_rel": rel(root, pred),
           "aux_rel": rel(aux, p_aux), "loss_rel": rel(loss, p_loss), "grad_rel": rel(*grads),
           "terms_with_other_child_order": int(reordered),
           "terms_without_genes": int((onto.direct_counts() == 0).sum()),
           "dcellx_params": fast.num_parameters(), "peer_init_s": round(init_s, 2),
           "peer_params": sum(p.numel() for p in peer.parameters())}  # fmt: skip
    out["pass"] = max(out[k] for k in ("root_rel", "aux_rel", "loss_rel", "grad_rel")) < TOLERANCE
    return out


def time_adam(model: torch.nn.Module, loss: Callable[[], torch.Tensor], warm: int, n: int) -> float:
    """Seconds per step (``loss()``, backward, fused Adam) after warm-up (allocator, Adam)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    model.train()
    for i in range(warm + n):
        if i == warm:
            t0 = time.perf_counter()
        total = loss()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    return (time.perf_counter() - t0) / n


def time_engine(args, onto, cfg, layout, state, batch: PerturbationBatch) -> float:
    model = DCell(onto, cfg, layout)
    model.load_term_state_dict(state)
    y = batch.y[:, 0]
    return time_adam(model, lambda: dcell_loss(*model(batch), y, cfg).total, 2, args.steps)


def measure(args, onto, cfg, peer_cls, loss_cls, graph, enc, bs: int) -> dict:
    layout = ModelLayout(onto, cfg)
    state = init_term_state(layout, seed=0)
    batch = make_batch(enc, np.arange(bs) % len(enc))
    t_engine = time_engine(args, onto, cfg, layout, state, batch)  # its model is freed on return
    pb = DeletionProcessor(graph, cfg.deletion_rule).from_batch(batch, onto)  # not timed
    peer, init_s = build_peer(peer_cls, graph)
    load_peer_state(peer, onto, state)  # the engine's function, step for step
    crit, y = loss_cls(alpha=0.3, aux_reduction="mean"), batch.y[:, 0]
    t_peer = time_adam(peer, lambda: crit(*peer(graph, pb), y)[0], 1, args.peer_steps)
    return {"batch_size": bs, "dcellx_samples_per_s": round(bs / t_engine, 2),
            "dcellx_step_s": round(t_engine, 4), "peer_samples_per_s": round(bs / t_peer, 2),
            "peer_step_s": round(t_peer, 4), "ratio": round(t_peer / t_engine, 1),
            "peer_init_s": round(init_s, 2)}  # fmt: skip


def print_table(title: str, rows: list[dict], keys: list[str]) -> None:
    heads = [k.removesuffix("_rel").replace("_per_s", "/s").replace("_", " ") for k in keys]
    table = Table(*(Column(h, justify="right") for h in heads), title=title)
    for r in rows:
        table.add_row(*(f"{r[k]:.1e}" if k.endswith("_rel") else str(r[k]) for k in keys))
    Console(width=None if sys.stdout.isatty() else 120).print(table)  # a file: no 80-col cut


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--go", default="2017")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed dcellx steps (after 2 warm-up)")
    ap.add_argument("--peer-steps", type=int, default=2, help="timed peer steps (after 1 warm-up)")
    ap.add_argument("--wheel", type=Path, default=None, help=f"{WHEEL} (default: download)")
    ap.add_argument("--check", action="store_true", help="also check equality on --go")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    wheel, sha = fetch_wheel(args.wheel)
    err.print(f"peer: {wheel} sha256 {sha}")
    peer_cls, loss_cls = load_peer(wheel)
    cfg = make_config("torchcell", gene_state="present-one")
    ds = load_dataset("dcell-dna-repair")["train"]
    tg = sys.modules["torch_geometric"].__version__
    report: dict = {"go": args.go, "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "torch_geometric": tg, "peer": f"torchcell=={VERSION}", "wheel_sha256": sha,
                    "check": [], "results": []}  # fmt: skip
    for go in dict.fromkeys(["dna-repair", args.go]):  # the check's ontology first
        onto = load_ontology_with_datasets(go)
        enc, graph = encode_genotypes(ds, onto, unknown="ignore"), to_heterodata(onto)
        if go == "dna-repair" or args.check:
            batch = make_batch(enc, np.arange(min(args.batch_sizes)) % len(enc))
            err.print(f"check on --go {go}, batch {batch.size} (float64)")
            report["check"].append(check(onto, cfg, peer_cls, loss_cls, graph, batch))
        for bs in args.batch_sizes if go == args.go else []:
            err.print(f"timing --go {go}, batch {bs}")
            report["results"].append(measure(args, onto, cfg, peer_cls, loss_cls, graph, enc, bs))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        keys = ["go", "batch_size", "root_rel", "aux_rel", "loss_rel", "grad_rel", "pass"]
        print_table("float64 check: max |dcellx - torchcell| / max |torchcell|", report["check"],
                    keys + ["dcellx_params", "peer_params"])  # fmt: skip
        keys = ["batch_size", "dcellx_samples_per_s", "peer_samples_per_s", "ratio", "peer_init_s"]
        print_table(f"one training step, --go {args.go}, {report['threads']} threads, torchcell "
                    f"{VERSION} sha256 {sha[:12]}", report["results"], keys)  # fmt: skip
    if not all(c["pass"] for c in report["check"]):
        sys.exit(f"bench_peer: check failed (tolerance {TOLERANCE})")
    return report


if __name__ == "__main__":
    main()
