"""Issue 14 item 5: genotype files that do not match the ontology. A batch in which no genotype
has a gene of the ontology stops with one line naming the first unknown genes and what would map
them (the shipped symbol table for standard names, upper case for ORFs, with counts), instead of
training to NaN and exiting 0; ``--unknown-genes warn|error|ignore`` and ``--duplicates
mean|error`` are flags of overfit/train/compare; the warning is one line, not a Python
``UserWarning`` quoting our source; a table without a ``genes`` column says so."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from dcellx.data.symbols import load_symbol_table
from tests.reliability.conftest import OVERFIT, left_behind, refused, run_cli


def records(path: Path) -> list[tuple[list[str], str]]:
    """(genes, value) of each line of a DCell-format file."""
    out = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            f = line.split()
            out.append((f[1:-1], f[-1]))
    return out


def standard_names(dna_file: Path, tmp_path: Path) -> tuple[Path, int, str, str]:
    """The real genotypes with standard names (``RAD52``) where the symbol table has one, as a
    CSV; returns it, the number of distinct names, the first name and its ORF."""
    table = load_symbol_table()
    by_orf: dict[str, str] = {}
    for symbol, orf in sorted(table.items()):
        by_orf.setdefault(orf, symbol)
    rows, names = ["genes,fitness"], {}
    for genes, value in records(dna_file):
        std = [by_orf.get(g, g) for g in genes]
        names.update(dict.fromkeys(std))
        rows.append(f"{';'.join(std)},{value}")
    path = tmp_path / "standard-names.csv"
    path.write_text("\n".join(rows) + "\n")
    first = next(iter(names))
    return path, len(names), first, table[first]


def test_standard_names_stop_with_the_mapping(dna_file: Path, tmp_path: Path, cli) -> None:
    data, n, first, orf = standard_names(dna_file, tmp_path)
    runs = tmp_path / "runs"
    line = refused(cli(*OVERFIT, "--data", data, "--epochs", "2", "--runs-dir", runs))
    assert line.startswith(
        f"error: {data}: no genotype of the batch (32 genotypes) has a gene of ontology "
        f"'dna-repair'; the file names {n} genes it lacks (first: {first}, "
    )
    assert f" of {n} are standard names that ids/yeast_clean4.txt maps to ORFs" in line
    assert f"({first} -> {orf}; dcellx.data.symbols.map_gene_names" in line
    assert not runs.exists() and left_behind(tmp_path, runs) == []


def test_lower_case_orfs_stop_with_the_case_hint(dna_file: Path, tmp_path: Path, cli) -> None:
    data = tmp_path / "lower.txt"
    recs = records(dna_file)
    data.write_text("".join(f"{len(g)} {' '.join(g).lower()} {v}\n" for g, v in recs))
    n = len({x for g, _ in recs for x in g})
    first = recs[0][0][0]
    runs = tmp_path / "runs"
    line = refused(cli(*OVERFIT, "--data", data, "--epochs", "2", "--runs-dir", runs))
    assert line.endswith(
        f"{n} of {n} are ORF names in lower case ({first.lower()} -> {first}: write them in "
        "upper case)"
    )
    assert not runs.exists()


def test_another_organism_stops_in_train_mode_too(tmp_path: Path, cli) -> None:
    data = tmp_path / "human.csv"
    genes = ["BRCA1", "TP53", "MYC", "EGFR", "KRAS", "ATM"]
    rows = [f"{g},0.5" for g in genes[:3]]
    rows += [f"{a};{b},{0.1 * i:.1f}" for i, (a, b) in enumerate(itertools.pairwise(genes))]
    data.write_text("\n".join(["genes,fitness", *rows]) + "\n")  # 8 genotypes, 7 train
    runs = tmp_path / "runs"
    args = ["train", "--go", "dna-repair", "--data", data, "--epochs", "2", "--threads", "1"]
    line = refused(cli(*args, "--batch-size", "2", "--runs-dir", runs, "-q"))
    assert line == (
        f"error: {data}: no genotype of the training split (7 genotypes) has a gene of ontology "
        "'dna-repair'; the file names 6 genes it lacks (first: BRCA1, TP53, MYC, ...): none is a "
        "yeast standard name or an ORF of the ontology in another case (genes of another "
        "organism?)"
    )
    assert not runs.exists()


@pytest.fixture
def partly_known(dna_file: Path, tmp_path: Path) -> Path:
    """The real genotypes, every fourth with one unknown gene added."""
    data = tmp_path / "partly.txt"
    lines = []
    for i, (genes, value) in enumerate(records(dna_file)):
        genes = [*genes, f"NOTAGENE{i}"] if i % 4 == 0 else genes
        lines.append(f"{len(genes)} {' '.join(genes)} {value}\n")
    data.write_text("".join(lines))
    return data


def test_unknown_genes_error_is_one_line(partly_known: Path, tmp_path: Path, cli) -> None:
    runs = tmp_path / "runs"
    args = [*OVERFIT, "--data", partly_known, "--epochs", "2", "--unknown-genes", "error"]
    line = refused(cli(*args, "--runs-dir", runs))
    assert line == (
        f"error: {partly_known}: 10 gene name(s) in 10 genotypes are not in ontology "
        "'dna-repair' (first: NOTAGENE0, NOTAGENE4, NOTAGENE8, ...); none is a yeast standard "
        "name or an ORF of the ontology in another case (genes of another organism?); "
        "--unknown-genes warn trains with them invisible"
    )
    assert not runs.exists()


def test_unknown_genes_ignore_is_silent(partly_known: Path, tmp_path: Path, cli) -> None:
    args = [*OVERFIT, "--data", partly_known, "--epochs", "2", "--unknown-genes", "ignore"]
    res = cli(*args, "--runs-dir", tmp_path / "runs")
    assert res.code == 0 and res.err == ""


def test_the_warning_is_one_line_from_a_real_process(partly_known: Path, tmp_path: Path) -> None:
    res = run_cli([*OVERFIT, "--data", str(partly_known), "--epochs", "2"] + [
        "--runs-dir", str(tmp_path / "runs"),
    ])  # fmt: skip
    assert res.code == 0, res.err
    assert res.err.splitlines() == [
        f"warning: {partly_known}: 10 gene name(s) in 10 genotypes are not inputs of ontology "
        "'dna-repair' and are invisible to the model (first: NOTAGENE0, NOTAGENE4, NOTAGENE8, "
        "...); none is a yeast standard name or an ORF of the ontology in another case (genes of "
        "another organism?)"
    ]
    assert "UserWarning" not in res.err and "warnings.warn" not in res.err


def test_the_flags_exist_on_every_run_command(cli) -> None:
    for cmd in ("overfit", "train", "compare"):
        res = cli(cmd, "--help")
        assert res.code == 0
        text = " ".join(res.out.split())
        assert "--unknown-genes" in text and "--duplicates" in text, cmd


@pytest.fixture
def conflicting(dna_file: Path, tmp_path: Path) -> Path:
    """The real genotypes with the first two measured again, with other values (lines 41, 42)."""
    recs = records(dna_file)
    lines = [f"{len(g)} {' '.join(g)} {v}\n" for g, v in recs]
    lines += [f"{len(g)} {' '.join(reversed(g))} 0.5\n" for g, _ in recs[:2]]
    data = tmp_path / "twice.txt"
    data.write_text("".join(lines))
    return data


def test_conflicting_duplicates_are_averaged_with_a_count(
    conflicting: Path, tmp_path: Path, cli
) -> None:
    first = " ".join(records(conflicting)[0][0])
    res = cli(*OVERFIT, "--data", conflicting, "--epochs", "2", "--runs-dir", tmp_path / "runs")
    assert res.code == 0, res.err
    assert res.err.splitlines() == [
        f"warning: {conflicting}: 2 genotype(s) measured more than once with different values "
        f"were averaged (first: {first}, lines 1 and 41); --duplicates error refuses them"
    ]


def test_duplicates_error_refuses_them(conflicting: Path, tmp_path: Path, cli) -> None:
    runs = tmp_path / "runs"
    args = [*OVERFIT, "--data", conflicting, "--epochs", "2", "--duplicates", "error"]
    line = refused(cli(*args, "--runs-dir", runs))
    assert line.startswith(f"error: {conflicting}:41: duplicate genotype ")
    assert "(first on line 1) with a different value: [0.5] vs " in line
    assert not runs.exists()


def test_a_table_without_a_genes_column(dna_file: Path, tmp_path: Path, cli) -> None:
    data = tmp_path / "no-genes.csv"
    body = [f"{';'.join(g)},{v}" for g, v in records(dna_file)]
    data.write_text("\n".join(["gene,fitness", *body]) + "\n")
    runs = tmp_path / "runs"
    line = refused(cli(*OVERFIT, "--data", data, "--epochs", "2", "--runs-dir", runs))
    assert line == (
        f"error: {data}:1: a table without a 'genes' column (columns: ['gene', 'fitness']); name "
        "the column of ';'-joined gene names 'genes' (or write the DCell format 'k g1 .. gk value')"
    )
    assert not runs.exists()
