"""``config.json``: the resolved run config with what it resolved to (ontology, data, labels,
model size), written when the run directory is created."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from dcellx.nn.dcell import DCell
from dcellx.train.config import RunConfig
from dcellx.train.data import RunData


def resolved_config(cfg: RunConfig, data: RunData, model: nn.Module) -> dict[str, Any]:
    onto = data.onto
    described = data.describe()
    if cfg.mode == "overfit":
        described["batch_rows"] = data.train.rows.tolist()
    # the engine that runs, and why when it is not the one the config named (dcellx.nn.engines)
    engine = {}
    if isinstance(model, DCell):
        engine = {"engine": model.engine.name, "engine_note": model.engine_note}
    return {
        "run": cfg.model_dump(mode="json"),
        "ontology": {
            "go": cfg.go,
            "name": onto.name,
            "content_hash": onto.content_hash,
            "terms": onto.num_terms,
            "genes": onto.num_genes,
            "recipe": onto.meta.get("recipe"),
            # cache, compiled from the raw files, or the build shipped with dcellx
            "served_by": onto.meta.get("served_by"),
            "control": onto.meta.get("control"),
        },
        "data": {"name": cfg.data, **described},
        "labels": dataclasses.asdict(data.labels),
        "model": {"class": type(model).__name__, "params": model.num_parameters(), **engine},
    }
