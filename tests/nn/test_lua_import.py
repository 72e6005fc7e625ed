"""The original DCell's own trained model, imported exactly (``dcellx.nn.lua_import``).

The yardstick is ``nngraph_interpreter``: a plain interpreter of the .t7 file that shares no code
with dcellx. On all 2,868 DNA-repair test genotypes, in float64, the fast engine and the reference
loop loaded with the imported state give its root and every auxiliary output to a max relative
difference <= 1e-6 (per genotype, |a - b| / |b|, |b| floored at 1e-9 of the output's scale).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.errors import InputError
from dcellx.nn import DCell, ReferenceDCell
from dcellx.nn.config import make_config
from dcellx.nn.layout import ModelLayout
from dcellx.nn.lua_graph import read_gene_map
from dcellx.nn.lua_import import import_lua_model
from dcellx.ontology.build import load_ontology
from tests.conftest import SHARED_DATA
from tests.nn.nngraph_interpreter import NNGraph, read_gene_columns, read_genotypes

MODEL = SHARED_DATA / "dcell" / "GO_0006281_Net_Last.t7"
GENE_MAP = SHARED_DATA / "dcell" / "GO_0006281_gene2id_mapping"
TOPOLOGY = SHARED_DATA / "dcell" / "GO_0006281_topology"
TEST = SHARED_DATA / "dcell" / "GO_0006281_testing_data_2016_0"
TOL = 1e-6


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    floor = 1e-9 * float(np.abs(b).max())
    return float((np.abs(a - b) / np.maximum(np.abs(b), floor)).max())


@pytest.fixture(scope="module")
def interpreted(onto_dna) -> dict:
    """The interpreter's outputs on the test file, keyed by GO term."""
    graph = NNGraph(MODEL)
    root, root_out, columns = read_gene_columns(GENE_MAP)
    genes, x = read_genotypes(TEST, columns)
    outs = graph.forward(x)
    terms = graph.output_terms()
    assert terms[root_out] == root and terms.count(None) == 1
    (geneless,) = set(onto_dna.term_ids) - {t for t in terms if t}  # the term without genes
    by_term = {t or geneless: o for t, o in zip(terms, outs, strict=True)}
    assert len(by_term) == onto_dna.num_terms == len(outs)
    return {"genes": genes, "root": root, "outputs": by_term}


@pytest.fixture(scope="module")
def imported(onto_dna):
    return import_lua_model(MODEL, GENE_MAP, onto_dna)


def _engines(onto, lua):
    cfg = make_config("lua-released", **lua.overrides)
    state = {k: v.double() if v.is_floating_point() else v for k, v in lua.state.items()}
    layout = ModelLayout(onto, cfg)
    fast = DCell(onto, cfg, layout).double()
    fast.load_term_state_dict(state)
    ref = ReferenceDCell(onto, cfg, layout).double()
    ref.load_state_dict(state)
    return fast.eval(), ref.eval()


def test_engines_give_the_interpreters_outputs(onto_dna, imported, interpreted) -> None:
    ds = load_dataset("dcell-dna-repair")["test"]
    assert list(ds.genes) == interpreted["genes"]  # the same 2,868 genotypes, in file order
    assert len(ds) == 2868
    batch = make_batch(encode_genotypes(ds, onto_dna, unknown="error"), np.arange(len(ds)))
    fast, ref = _engines(onto_dna, imported)
    with torch.no_grad():
        outs = {
            "fast": fast(batch),
            "reference": ref(batch.dense(onto_dna.num_genes, torch.float64)),
        }
    want = interpreted["outputs"]
    aux_terms = [t for i, t in enumerate(onto_dna.term_ids) if i != onto_dna.root]
    worst = {}
    for engine, (root, aux) in outs.items():
        worst[engine, "root"] = max_rel(root.numpy(), want[interpreted["root"]])
        worst[engine, "aux"] = max(
            max_rel(aux[:, j].numpy(), want[t]) for j, t in enumerate(aux_terms)
        )
    assert all(v <= TOL for v in worst.values()), worst


def test_what_the_saved_model_is(imported) -> None:
    """Dense gene layers (the mask never applied), Linear -> BN -> Tanh, auxiliary heads on the
    state; the record's outside-the-term shares are per term and summarised."""
    rec = imported.record
    assert rec["modules"] == {
        "nn.BatchNormalization": 21,
        "nn.Identity": 1,
        "nn.JoinTable": 11,
        "nn.Linear": 62,
        "nn.Tanh": 41,
    }
    assert rec["parameters"] == 45355
    assert imported.overrides["block"] == "linear-norm-tanh"
    assert imported.overrides["aux_input"] == "state"
    assert imported.overrides["aux_head"] == "tanh-linear"
    fields = {d["field"] for d in rec["differences_from_lua"]}
    assert fields == {"gene_layer", "block", "aux_input", "init", "alpha"}
    layers = rec["gene_layers"]
    assert len(layers) == 20
    for r in layers:
        assert r["zero_weights"] == 0 and r["zero_grad_outside"] == 0
        assert 0 < r["weight_share_outside"] < 1
        assert r["gene_share_outside"] == pytest.approx(1 - r["direct_genes"] / 162)
    shares = sorted(r["weight_share_outside"] for r in layers)
    summary = rec["weight_share_outside"]
    assert summary["min"] == shares[0] and summary["max"] == shares[-1]
    assert summary["median"] == pytest.approx(np.median(shares))
    # a dense gene layer is stored over every gene of the ontology
    assert imported.state["genes.GO:0006281.weight"].shape == (32, 162)
    assert "genes.GO:0000726.weight" not in imported.state  # no direct genes, no gene layer


def test_running_statistics_were_updated_about_121_times(imported) -> None:
    """Torch7 starts a running variance at 1 and moves it by momentum 0.1 each training batch,
    so a unit whose batch variance is ~0 holds 0.9^k after k updates: the smallest of the file's
    235 is 2.909e-6 = 0.9^121 (README, "the original DCell's own model")."""
    var = torch.cat(
        [v.flatten() for k, v in imported.state.items() if k.endswith(".running_var")]
    ).double()
    assert var.numel() == 235
    assert var.min().item() == pytest.approx(2.909e-6, rel=1e-3)
    updates = math.log(var.min().item()) / math.log(0.9)
    assert abs(updates - 121) < 0.05


def _edited_topology(tmp_path, old: str, new: str):
    text = TOPOLOGY.read_text()
    assert old in text
    path = tmp_path / "topology"
    path.write_text(text.replace(old, new))
    return load_ontology("dna-repair", obo=path, use_cache=False)


def test_a_term_the_topology_lacks_names_the_module(tmp_path) -> None:
    onto = _edited_topology(tmp_path, "GO:0000727", "GO:0000001")
    with pytest.raises(InputError, match=r"nngraph node 114 .*'gene_GO:0000727'.*lacks"):
        import_lua_model(MODEL, GENE_MAP, onto)


def test_other_children_name_the_join(tmp_path) -> None:
    # GO:0006302 loses its child GO:2000779 (which stays under GO:0006282)
    onto = _edited_topology(tmp_path, "GO:0000724 GO:2000779 \n", "GO:0000724 \n")
    with pytest.raises(InputError, match=r"nngraph node 117 .*nn.JoinTable.*GO:0006302 joins"):
        import_lua_model(MODEL, GENE_MAP, onto)


def test_not_a_torch7_file(onto_dna) -> None:
    with pytest.raises(InputError, match="not a Torch7 file"):
        import_lua_model(TOPOLOGY, GENE_MAP, onto_dna)


def test_gene_map_with_a_repeated_index(tmp_path) -> None:
    lines = GENE_MAP.read_text().splitlines()
    lines[2] = lines[2].split()[0] + " 1"
    bad = tmp_path / "map"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"map:3: .* listed twice"):
        read_gene_map(bad)
