"""Term-named state is sliced on the host from one copy of each packed tensor, whatever the
model's device, and reads back what it wrote.

The host is ``term_state.HOST`` (the CPU). Without a GPU the copy is made visible by turning the
roles around: the model stays on the CPU and the host becomes the ``meta`` device, so that a
dispatch mode sees which operators read the model's own (CPU) tensors: only the one copy of each.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import dcellx.nn.term_state as term_state
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout

KINDS = {
    "binary": {"variant": "binary"},
    "embedding": {"variant": "embedding"},
    "pooled": {"variant": "embedding-pooled"},
    "deepset": {"variant": "embedding-deepset"},
    "attention": {"variant": "embedding-attention"},
    "masked-layer": {"gene_layer": "masked-layer"},
    "depth2": {"depth": 2, "norm": "layer"},
    "root-extra": {"root_extra_input": "constant-one", "gene_state": "present-one"},
}
# the term-vector kinds read each term's row offset from an index buffer while slicing
# (``TermVectorGenes._rows``): a value the meta device cannot hold, so they are left out of the
# copy count (on the host that read is a CPU read, not a device sync)
TERM_VECTORS = ("pooled", "deepset", "attention")
COUNTED = [k for k in KINDS if k not in TERM_VECTORS]


class CpuReads(TorchDispatchMode):
    """The operators (by name, with a count) that take a CPU tensor as an argument."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        leaves = tree_leaves((args, kwargs))
        if any(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in leaves):
            self.ops[str(func)] = self.ops.get(str(func), 0) + 1
        return func(*args, **(kwargs or {}))


def model_of(onto, levers: dict, dtype: torch.dtype = torch.float32) -> DCell:
    cfg = make_config("paper", **levers)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout).to(dtype)
    model.load_term_state_dict(init_term_state(layout, 3, dtype=dtype))
    return model


def distinct_tensors(model: torch.nn.Module) -> int:
    return len({id(t) for t in (*model.parameters(), *model.buffers())})


@pytest.mark.parametrize("kind", COUNTED)
def test_saving_copies_each_packed_tensor_once_then_slices_on_the_host(
    onto_dna, kind, monkeypatch
) -> None:
    model = model_of(onto_dna, KINDS[kind])
    names = list(model.term_state_dict())
    monkeypatch.setattr(term_state, "HOST", torch.device("meta"))
    with CpuReads() as reads:
        state = model.term_state_dict()
    # one copy per parameter and buffer, nothing else reads the model's own tensors
    assert reads.ops == {"aten._to_copy.default": distinct_tensors(model)}
    assert list(state) == names and len(names) > len(list(model.parameters()))
    assert {v.device.type for v in state.values()} == {"meta"}
    # the model is left as it was: its own tensors, where they were
    assert {p.device.type for p in model.parameters()} == {"cpu"}
    assert list(model.term_state_dict()) == names


@pytest.mark.parametrize("kind", KINDS)
def test_term_state_round_trips_bitwise(onto_dna, kind) -> None:
    """Saved and loaded into a fresh model (other seed, float64 state as the checkpoint holds it
    in float64 runs), the packed parameters and the named state come back bit for bit."""
    model = model_of(onto_dna, KINDS[kind], torch.float64)
    state = model.term_state_dict()
    assert all(v.device.type == "cpu" for v in state.values())
    fresh = model_of(onto_dna, KINDS[kind], torch.float64)
    fresh.load_term_state_dict(init_term_state(fresh.layout, 11, dtype=torch.float64))
    fresh.load_term_state_dict(state)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    again = fresh.term_state_dict()
    assert all(torch.equal(state[k], again[k]) for k in state) and list(again) == list(state)


def test_a_failed_load_leaves_the_model_as_it_was(onto_dna, monkeypatch) -> None:
    """Loading fills the host copies and copies them back only once every tensor was read: a
    state missing a key (a KeyError) changes nothing of a model off the host."""
    model = model_of(onto_dna, {"variant": "binary"})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    params = list(model.parameters())
    state = model_of(onto_dna, {"variant": "binary"}).term_state_dict()
    state = {k: (v + 1 if k.startswith("terms.") else v) for k, v in state.items()}
    del state[next(k for k in reversed(state) if k.startswith("terms."))]
    monkeypatch.setattr(term_state, "HOST", torch.device("meta"))
    with pytest.raises(KeyError):
        model.load_term_state_dict(state)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p is q for p, q in zip(params, model.parameters(), strict=True))


def test_moved_puts_the_original_tensors_back(onto_dna) -> None:
    """The originals stay the parameters (optimiser state, hooks and graphs point at them)."""
    model = model_of(onto_dna, {"variant": "embedding-pooled"})
    originals = [id(p) for p in model.parameters()]
    with term_state.moved(model, "meta"):
        assert {p.device.type for p in model.parameters()} == {"meta"}
    assert [id(p) for p in model.parameters()] == originals
    assert all(isinstance(p, torch.nn.Parameter) for p in model.parameters())
