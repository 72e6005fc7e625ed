"""``dcellx import-lua``: the original DCell's saved Torch7 model as a dcellx run directory.

The module-by-module import is ``dcellx.nn.lua_import``; here the imported state becomes a run
like the ones ``dcellx train`` writes, so that ``dcellx predict`` and ``dcellx rlipp`` take it:
``config.json`` (the resolved config: preset ``lua-released`` plus what the file showed, the
ontology recipe and hash, the Lua training recipe: batch 800, Adam lr 1e-3, betas (0.9, 0.99),
200 epochs, raw labels), ``weights-best.pt`` (the term-named state, float32 as stored, BatchNorm
running statistics included), ``env.json``, ``import.json`` (the import record) and
``summary.json`` (eval-mode metrics on the dataset's splits and on the whole training file).
"""

from __future__ import annotations

import dataclasses
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcellx.data.universe import load_ontology_with_datasets
from dcellx.errors import ConfigError
from dcellx.fileio import FileWriteError, describe_os_error
from dcellx.io import registry
from dcellx.nn.lua_import import LuaModel, import_lua_model
from dcellx.train import checkpoint
from dcellx.train.checkpoint import BEST
from dcellx.train.config import make_run_config
from dcellx.train.data import RunData, Split, load_run_data
from dcellx.train.evaluate import predict_split, score_splits
from dcellx.train.metadata import resolved_config
from dcellx.train.metrics import regression_metrics
from dcellx.train.models import build_model
from dcellx.train.rundir import environment, recipe_sources, write_json

DNA_REPAIR_TOPOLOGY = "dcell-dna-repair-topology"
# The Lua training recipe (training/Train_DCell.lua), recorded as the run's config. Its loop has
# no validation split and no early stopping: patience >= epochs keeps dcellx from stopping.
LUA_RECIPE: dict[str, Any] = {
    "mode": "train",
    "batch_size": 800,
    "epochs": 200,
    "lr": 1e-3,
    "betas": (0.9, 0.99),
    "early_stopping_patience": 200,
    "label_norm": "none",  # the Lua code trains on the raw scores
}


def topology_recipe(topology: str) -> tuple[str, dict[str, str]]:
    """``--topology`` as an ontology recipe: the ``dna-repair`` recipe, with its topology file
    replaced when another registered name or path is given."""
    if topology == DNA_REPAIR_TOPOLOGY:
        return "dna-repair", {}
    return "dna-repair", {"obo": str(registry.resolve(topology).resolve())}


def _check_out(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"--out {path}: exists and is not an empty directory; not overwriting")
    return path


def _out_dir(out: str | Path) -> Path:
    path = _check_out(out)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot create ({describe_os_error(exc)})") from exc
    return path


def _whole_training_file(data: RunData) -> Split:
    """The training file's every genotype (the Lua code trained on all of them)."""
    rows = np.unique(np.concatenate([p.rows for k, p in data.parts().items() if k != "test"]))
    return Split(data.train.enc, rows, data.train.z, data.train.raw)


def import_lua_run(
    model: str,
    out: str | Path,
    topology: str = DNA_REPAIR_TOPOLOGY,
    gene_map: str = "dcell-dna-repair-gene-map",
    data: str = "dcell-dna-repair",
    threads: int = 1,
    device: str = "cpu",
) -> dict[str, Any]:
    """Import ``model`` (a registered name or a .t7 path) into the new run directory ``out``;
    return the summary (import record and eval-mode metrics)."""
    torch.set_num_threads(threads)
    _check_out(out)  # before the work; created (if still free) once everything is computed
    t7, gmap = registry.resolve(model), registry.resolve(gene_map)
    go, onto_overrides = topology_recipe(topology)
    onto = load_ontology_with_datasets(go, **onto_overrides)
    lua: LuaModel = import_lua_model(t7, gmap, onto)
    cfg = make_run_config(
        "lua-released",
        model=lua.overrides,
        ontology=onto_overrides,
        go=go,
        data=data,
        threads=threads,
        device=device,
        **LUA_RECIPE,
    )
    run_data = load_run_data(cfg)
    if run_data.onto.content_hash != onto.content_hash:  # the same recipe, compiled twice
        raise ConfigError("the topology compiled to two different ontologies")
    net = build_model(
        run_data.onto, cfg.model, cfg.variant, cfg.seed, engine=cfg.engine, buckets=cfg.buckets
    )
    net.load_term_state_dict(lua.state)
    source = {"path": str(t7), "sha256": registry.sha256_file(t7), "gene_map": str(gmap)}
    source["gene_map_sha256"] = registry.sha256_file(gmap)
    source["reader"] = f"torchfile {metadata.version('torchfile')}"
    record = {"source": source, **lua.record}
    dev = torch.device(device)
    net.to(dev)
    metrics = score_splits(net, run_data, dev)
    whole = _whole_training_file(run_data)
    pred = run_data.labels.inverse(predict_split(net, whole, whole.rows, dev))
    metrics["training_file"] = regression_metrics(pred, whole.raw[whole.rows])
    config = resolved_config(cfg, run_data, net)
    config["import"] = {"source": source, "found": lua.record["found"]}
    env = environment(onto.content_hash, cfg.data, None, recipe_sources(onto.meta))
    env["import_source"] = source
    payload = {
        "model": lua.state,
        "epoch": None,
        "imported": source,
        "config": cfg.model_dump(mode="json"),
        "variant": cfg.variant,
        "ontology_hash": onto.content_hash,
        "labels": dataclasses.asdict(run_data.labels),
    }
    summary = {
        "status": "imported",
        "mode": "import",
        "variant": cfg.variant,
        "preset": cfg.model.preset,
        "run_id": None,
        "ontology_content_hash": onto.content_hash,
        "params": net.num_parameters(),
        "metrics": metrics,
        "split": run_data.split,
        **{f"test_{k}": v for k, v in metrics.get("test", {}).items()},
        "weight_share_outside": lua.record["weight_share_outside"],
        "differences_from_lua": [d["field"] for d in lua.record["differences_from_lua"]],
    }
    run_dir = _out_dir(out)
    summary["run_id"] = run_dir.name
    try:
        write_json(run_dir / "config.json", config)
        write_json(run_dir / "env.json", env)
        write_json(run_dir / "import.json", record)
        checkpoint.save(run_dir / BEST, payload)
        write_json(run_dir / "summary.json", summary)  # last: a run with a summary is complete
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # no half-written run (it was empty)
        raise
    return {"run_dir": str(run_dir), **summary, "record": record}
