"""``data simulate --design trigenic-sga``: Kuzmin-style query pairs x array genes, grouped by
query pair, τ-scaled labels, byte-identical per seed, readable by the genotype reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dcellx.data.datasets import load_dataset
from dcellx.data.simulate import read_gene_file, simulate_genotypes
from dcellx.data.trigenic import TrigenicScreen, default_query_pairs, simulate_trigenic
from dcellx.errors import ConfigError
from dcellx_cli.main import app


@pytest.fixture(scope="module")
def screen() -> TrigenicScreen:
    return simulate_trigenic(seed=0)


def runs(keys: list[tuple[str, str]]) -> int:
    """Number of maximal runs of equal consecutive keys."""
    return 1 + sum(a != b for a, b in zip(keys, keys[1:], strict=False))


def test_default_size_genes_and_design(screen: TrigenicScreen) -> None:
    ds = screen.dataset
    assert len(ds) == 91_050 and all(len(g) == len(set(g)) == 3 for g in ds.genes)
    assert len({frozenset(g) for g in ds.genes}) == 91_050  # no duplicate genotype
    genes = {x for g in ds.genes for x in g}
    assert len(genes) == 1_400 and genes <= set(read_gene_file("costanzo-2016-genes"))
    p = screen.params
    assert (p["query_pairs"], p["query_genes"], p["array_genes"]) == (73, 146, 1_254)
    assert default_query_pairs(91_050, 1_400) == 73
    query_genes = {x for q in screen.query_pairs for x in q}
    assert len(query_genes) == 146 and not query_genes & set(screen.array_genes)
    assert {g[2] for g in ds.genes} == set(screen.array_genes)
    sizes = np.bincount(screen.query_of_record)
    assert sizes.sum() == 91_050 and sizes.min() >= 1_247 and sizes.max() <= 1_248


def test_records_are_grouped_by_query_pair(screen: TrigenicScreen) -> None:
    ds = screen.dataset
    queries = [g[:2] for g in ds.genes]
    assert runs(queries) == len(set(queries)) == 73  # each query pair's records are contiguous
    assert np.all(np.diff(screen.query_of_record) >= 0)
    assert all(
        q == screen.query_pairs[i] for q, i in zip(queries, screen.query_of_record, strict=True)
    )
    assert len(set(queries[:32])) <= 2
    draw = np.random.default_rng(0).permutation(len(ds))[:32]
    assert len({queries[i] for i in draw.tolist()}) > 2  # a shuffled batch is a different batch


def test_labels_on_the_users_tau_scale(screen: TrigenicScreen) -> None:
    tau = screen.dataset.values[:, 0]
    assert tau.mean() == pytest.approx(-0.048, abs=1e-3)
    assert tau.std() == pytest.approx(0.054, abs=1e-3)
    assert (tau < 0).mean() >= 0.99
    assert tau.min() < -0.5 and np.median(tau) > tau.mean()  # a long negative tail
    assert screen.stats["nonnegative"] == int((tau >= 0).sum())


def test_labels_are_a_monotone_map_of_the_planted_teacher() -> None:
    s = simulate_trigenic([f"G{i:02d}" for i in range(60)], n=400, noise=0.0, seed=3)
    assert len(s.triple_effects) == 8 and len(s.pair_effects) > s.params["query_pairs"]
    score = []
    for g in s.dataset.genes:
        y = sum(s.gene_effects[x] for x in g)
        y += sum(s.pair_effects.get(tuple(sorted(p)), 0.0) for p in (g[:2], g[::2], g[1:]))
        score.append(y + s.triple_effects.get(g, 0.0))
    # tau = -c * exp(sigma * z): log(-tau) is affine in the score
    r = np.corrcoef(score, np.log(-s.dataset.values[:, 0]))[0, 1]
    assert r == pytest.approx(1.0, abs=1e-9)


def test_byte_identical_for_a_seed_and_read_back(screen: TrigenicScreen, tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    screen.write(a)
    simulate_trigenic(seed=0).write(b)
    simulate_trigenic(seed=1).write(c)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    header = [line for line in a.read_text().splitlines() if line.startswith("#")]
    assert header[0] == "# SYNTHETIC genotypes simulated by dcellx (not measured data)"
    text = "\n".join(header)
    for want in (
        "design=trigenic-sga",
        "order=3 n=91050 noise=0.1 seed=0",
        "genes=1400 gene_source=costanzo-2016-genes gene_pool=4111",
        "query_pairs=73 query_genes=146 array_genes=1254 records_per_query=1247-1248",
        "query_pair_sd=0.5 pair_fraction=0.01 pair_sd=0.5 triple_fraction=0.02 triple_sd=1.0",
        "tau_mean=-0.048 tau_sd=0.054 sigma=",
        "nonnegative=0",
    ):
        assert want in text, want
    back = load_dataset(str(a))
    assert list(back) == ["train"]
    ds = back["train"]
    assert ds.genes == screen.dataset.genes and {len(g) for g in ds.genes} == {3}
    assert np.array_equal(ds.values, screen.dataset.values)


def test_gene_list_subset_and_errors() -> None:
    genes = [f"G{i:02d}" for i in range(60)]
    whole = simulate_trigenic(genes, n=400, seed=1)
    assert whole.params["genes"] == 60 and whole.params["gene_source"] == "list"
    part = simulate_trigenic(genes, n=140, n_genes=40, query_pairs=5, seed=1, gene_source="x")
    used = {x for g in part.dataset.genes for x in g}
    assert len(used) <= 40 and part.params["array_genes"] == 30
    assert part.params["gene_source"] == "x" and part.params["records_per_query"] == "28-28"
    with pytest.raises(ConfigError, match="holds at most 450 records"):
        simulate_trigenic(genes, n=451)
    with pytest.raises(ConfigError, match="at most 96 records"):
        simulate_trigenic(genes, n=97, query_pairs=2, n_genes=52)
    with pytest.raises(ConfigError, match="n_genes"):
        simulate_trigenic(genes, n=10, n_genes=61)


def test_cli_end_to_end(screen: TrigenicScreen, tmp_path: Path) -> None:
    out, again, lib = tmp_path / "tri.txt", tmp_path / "tri2.txt", tmp_path / "lib.txt"
    base = ["data", "simulate", "--design", "trigenic-sga", "--seed", "0"]
    res = CliRunner().invoke(app, [*base, "--out", str(out)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "91,050 synthetic triple mutants" in res.output and "73 query pairs" in res.output
    assert CliRunner().invoke(app, [*base, "--out", str(again)]).exit_code == 0
    screen.write(lib)
    assert out.read_bytes() == again.read_bytes() == lib.read_bytes()
    ds = load_dataset(str(out))["train"]
    assert len(ds) == 91_050 and {len(g) for g in ds.genes} == {3}
    # a --genes file: all of it, or a seeded --n-genes subset; recorded in the header
    genes = tmp_path / "genes.txt"
    genes.write_text("# mine\n" + "\n".join(f"G{i}" for i in range(80)) + "\n")
    small = [*base, "--genes", str(genes), "--n", "300", "--n-genes", "50", "--out", str(out)]
    res = CliRunner().invoke(app, small)
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert f"genes=50 gene_source=file:{genes} gene_pool=80" in text and "n=300 " in text
    # the default design is unchanged: random pairs, as the library writes them
    plain = ["data", "simulate", "--genes", str(genes), "--n", "50", "--out", str(out)]
    assert CliRunner().invoke(app, plain).exit_code == 0
    simulate_genotypes(read_gene_file(genes), 2, 50, seed=0).write(lib)
    assert out.read_bytes() == lib.read_bytes()
    for bad in (
        [*base, "--order", "2", "--out", str(out)],
        [*base, "--teacher", "dcell", "--out", str(out)],
        ["data", "simulate", "--n-genes", "50", "--out", str(out)],
        ["data", "simulate", "--design", "grid", "--out", str(out)],
    ):
        res = CliRunner().invoke(app, bad)
        assert res.exit_code != 0 and isinstance(res.exception, ConfigError), bad
