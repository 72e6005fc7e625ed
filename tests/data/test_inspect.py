"""``inspect_file`` (``dcellx data inspect``): row counts per filter, genotypes and genes, on files
written in the published Costanzo 2016 / Kuzmin 2018 layouts and on the real DNA-repair file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dcellx.data.formats.costanzo2016 import read_costanzo2016
from dcellx.data.formats.kuzmin2018 import read_kuzmin2018
from dcellx.data.inspect import inspect_file
from dcellx.data.screens import ScreenStats
from dcellx.errors import InputError
from tests.data.test_screens import (
    COSTANZO_HEADER,
    COSTANZO_ROWS,
    KUZMIN_HEADER,
    KUZMIN_ROWS,
    _write,
)

TRAIN_PATH = "dcell/GO_0006281_training_data_2016_0"
ORFS = [f"Y{c}L{n:03d}W" for c in "ABCD" for n in range(1, 6)]  # 20 systematic names
STRAIN = {"deletion": ("sn{}", "dma{}", "DMA30"), "ts": ("tsq{}", "tsa{}", "TSA26")}


def _costanzo_screen(tmp_path: Path, n: int, seed: int = 0) -> tuple[Path, list[dict]]:
    """``n`` random rows in the Costanzo layout, and what each row is (for the expectations)."""
    rng = random.Random(seed)
    rows, truth = [], []
    for i in range(n):
        q, a = rng.sample(ORFS, 2)
        kind = rng.choice(["deletion", "ts"])
        qs, as_, arraytype = STRAIN[kind]
        eps, p = round(rng.uniform(-0.5, 0.5), 4), round(rng.random(), 4)
        dmf = "" if i % 7 == 3 else "0.8"
        rows.append(
            f"{q}_{qs.format(i)}\tq{i}\t{a}_{as_.format(i)}\ta{i}\t{arraytype}\t{eps}\t{p}\t"
            f"1.0\t1.0\t{dmf}\t0.01"
        )
        truth.append({"genes": frozenset({q, a}), "kind": kind, "eps": eps, "p": p, "dmf": dmf})
    return _write(tmp_path, "SGA_ExE.txt", COSTANZO_HEADER, rows), truth


def test_counts_on_a_generated_costanzo_screen(tmp_path: Path) -> None:
    path, truth = _costanzo_screen(tmp_path, 400)
    after_alleles = [t for t in truth if t["kind"] == "deletion"]
    after_p = [t for t in after_alleles if t["p"] <= 0.5]
    after_eps = [t for t in after_p if abs(t["eps"]) >= 0.1]
    report = inspect_file(
        path, allele_types=["deletion"], max_pvalue=0.5, min_abs_epsilon=0.1, phenotype="dmf"
    )
    assert report["format"] == "costanzo2016" and report["rows"] == 400
    assert report["kept"] == {
        "allele_types": len(after_alleles),
        "max_pvalue": len(after_p),
        "min_abs_epsilon": len(after_eps),
    }
    measured = [t for t in after_eps if t["dmf"]]
    assert report["skipped"] == {"rows without dmf": len(after_eps) - len(measured)}
    assert report["measurements"] == len(measured)
    assert report["genotypes"] == len({t["genes"] for t in measured}) < len(measured)
    assert report["genes"] == len({g for t in measured for g in t["genes"]})
    assert report["cached"] is False and report["seconds"] >= 0 and report["peak_rss_mb"] > 10


def test_reader_stats_do_not_change_what_readers_return(tmp_path: Path) -> None:
    path = _write(tmp_path, "c.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    stats = ScreenStats()
    with_stats = read_costanzo2016(path, max_pvalue=0.05, stats=stats)
    plain = read_costanzo2016(path, max_pvalue=0.05)
    assert with_stats.genes == plain.genes and with_stats.values.tolist() == plain.values.tolist()
    assert (stats.rows, stats.kept, stats.measurements, stats.genotypes) == (
        5,
        {"max_pvalue": 2},
        2,
        2,
    )
    # filled even when nothing is left
    with pytest.raises(InputError, match="no genotypes left"):
        read_costanzo2016(path, max_pvalue=1e-9, stats=stats)
    assert stats.rows == 5 and stats.kept == {"max_pvalue": 0} and stats.genotypes == 0


def test_counts_on_kuzmin_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "aao1729_data_s1.tsv", KUZMIN_HEADER, KUZMIN_ROWS)
    report = inspect_file(path, mutant_types=["trigenic"], max_pvalue=0.05)
    assert report["format"] == "kuzmin2018" and report["phenotype"] == "tau"
    assert report["rows"] == 3 and report["kept"] == {"mutant_types": 2, "max_pvalue": 1}
    assert (report["measurements"], report["genotypes"], report["genes"]) == (1, 1, 3)
    whole = inspect_file(path)
    assert whole["kept"] == {} and whole["measurements"] == 3
    assert (whole["genotypes"], whole["genes"], whole["max_genes_per_genotype"]) == (2, 4, 3)
    stats = ScreenStats()
    read_kuzmin2018(path, allele_types=["deletion"], drop_ho=False, stats=stats)
    assert stats.kept == {"allele_types": 1} and stats.genotypes == 1


def test_real_dna_repair_file(shared_data: Path) -> None:
    report = inspect_file(shared_data / TRAIN_PATH, go="dna-repair")
    assert report["format"] == "dcell" and report["filters"] == {}
    assert report["rows"] == report["measurements"] == 8783
    assert report["genotypes"] == 8783 and report["genes"] == 162
    assert report["unknown_genes"] == 0 and report["unknown_gene_list"] == []
    by_name = inspect_file("dcell-dna-repair-test")
    assert by_name["file"] == str(shared_data / "dcell/GO_0006281_testing_data_2016_0")
    assert by_name["rows"] == 2868


def test_genes_unknown_to_the_ontology(tmp_path: Path, onto_dna) -> None:
    path = _write(tmp_path, "c.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    report = inspect_file(path, go="dna-repair")
    known = set(onto_dna.gene_ids)  # unknown: exactly the file's genes minus the ontology's
    genes = {"YBR188C", "YMR296C", "YAL002W", "YAL015C", "YBL023C", "YDR001C"}
    assert report["genes"] == len(genes)
    assert report["unknown_gene_list"] == sorted(genes - known)
    assert report["unknown_genes"] == len(genes - known) > 0


def test_bad_line_is_named(tmp_path: Path) -> None:
    bad = COSTANZO_ROWS[0].replace("\t-0.1255\t", "\tabc\t")
    path = _write(tmp_path, "bad.txt", COSTANZO_HEADER, [COSTANZO_ROWS[1], bad])
    with pytest.raises(InputError, match="not a number") as err:
        inspect_file(path)
    assert str(err.value).startswith(f"{path}:3: ")
