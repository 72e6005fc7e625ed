"""``dcellx ontology export --format pyg``: the file is ``torch.save`` of ``to_heterodata``, an
existing file is kept unless ``--force``, and nothing but the file is left behind."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from typer.testing import CliRunner

from dcellx.errors import ConfigError
from dcellx.interop.pyg import to_heterodata
from dcellx_cli.main import app


def same(a, b) -> bool:
    """Equal PyG objects: the same stores, keys, tensors and values."""
    if a.node_types != b.node_types or a.edge_types != b.edge_types:
        return False
    for sa, sb in zip(a.stores, b.stores, strict=True):
        if set(sa.keys()) != set(sb.keys()):
            return False
        for k in sa.keys():
            x, y = sa[k], sb[k]
            if isinstance(x, dict):
                ok = x.keys() == y.keys() and all(torch.equal(x[s], y[s]) for s in x)
            else:
                ok = torch.equal(x, y) if isinstance(x, torch.Tensor) else x == y
            if not ok:
                return False
    return True


def test_export_pyg(onto_dna, tmp_path: Path, isolated_cache: Path) -> None:
    out = tmp_path / "dna-repair.pt"
    args = ["ontology", "export", "--go", "dna-repair", "--format", "pyg", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "dna-repair (21 terms, 162 genes)" in res.output
    graph = torch.load(out, weights_only=False)
    assert same(graph, to_heterodata(onto_dna))
    assert graph.content_hash == onto_dna.content_hash
    other = to_heterodata(onto_dna)  # the comparison sees a changed tensor value
    other["gene_ontology"].mutant_state[7, 2] = 0
    assert not same(graph, other)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "dna-repair.pt"]


def test_export_keeps_an_existing_file_unless_forced(onto_dna, tmp_path: Path, isolated_cache):
    out = tmp_path / "mine.pt"
    out.write_bytes(b"a file of the user's")
    args = ["ontology", "export", "--go", "dna-repair", "--format", "pyg", "--out", str(out)]
    for fmt in ("pyg", "topology"):  # every format: nothing a user made is overwritten
        res = CliRunner().invoke(app, [*args[:5], fmt, *args[6:]])
        assert isinstance(res.exception, ConfigError), res.output
        assert str(res.exception) == f"{out}: exists; add --force to overwrite it"
        assert out.read_bytes() == b"a file of the user's"
    res = CliRunner().invoke(app, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert same(torch.load(out, weights_only=False), to_heterodata(onto_dna))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "mine.pt"]


def test_export_without_the_extra_says_how_to_get_it(
    onto_dna, tmp_path: Path, isolated_cache: Path, monkeypatch
) -> None:
    # a None entry in sys.modules makes ``import torch_geometric`` raise ImportError, as on an
    # install without the pyg extra
    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    out = tmp_path / "go.pt"
    args = ["ontology", "export", "--go", "dna-repair", "--format", "pyg", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, ConfigError), res.output
    assert "pip install 'dcellx[pyg]'" in str(res.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
