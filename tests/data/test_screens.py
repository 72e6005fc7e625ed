"""Screen readers (Costanzo 2016, Kuzmin 2018), format sniffing and symbol mapping.

The files are written here in the published layouts (header names and column order as released),
with a few rows each; the symbol table is the real one from the shared mirror.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from dcellx.data.datasets import load_genotypes
from dcellx.data.formats import sniff_format
from dcellx.data.formats.costanzo2016 import read_costanzo2016
from dcellx.data.formats.kuzmin2018 import read_kuzmin2018
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.screens import load_screen
from dcellx.data.sga import allele_type, strain_orfs
from dcellx.data.symbols import load_symbol_table, map_gene_names
from dcellx.errors import ConfigError, InputError

COSTANZO_HEADER = (
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
    "Genetic interaction score (ε)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
    "Double mutant fitness\tDouble mutant fitness standard deviation"
)
COSTANZO_ROWS = [
    # a real SGA_ExN_NxE row: NatMX deletion query x TS array
    "YBR188C_sn1898\tntc20\tYMR296C_tsa606\tlcb1-10\tTSA26\t-0.1255\t0.1631\t1.0252\t0.6861\t0.5779\t0.2388",
    # the same gene pair the other way round: TS query x deletion array
    "YMR296C_tsq12\tlcb1-10\tYBR188C_dma3\tntc20\tDMA30\t-0.2\t0.01\t0.7\t1.0\t0.5\t0.1",
    "YAL002W_sn1003\tvps8\tYAL015C_dma1\tntg1\tDMA30\t0.05\t0.5\t0.9\t1.0\t0.95\t0.02",
    "YBL023C_damp12\tmcm2-damp\tYAL002W_dma5\tvps8\tDMA26\t-0.3\t0.001\t0.8\t0.9\t0.42\t0.03",
    # no double-mutant fitness measured
    "YDR001C_sn7\tnth1\tYAL002W_dma5\tvps8\tDMA30\t0.01\t0.9\t1.0\t0.9\t\t",
]

KUZMIN_HEADER = (
    "Query strain ID\tQuery allele name\tArray strain ID\tArray allele name\tCombined mutant type\t"
    "Raw genetic interaction score (epsilon)\tAdjusted genetic interaction score (epsilon or tau)\t"
    "P-value\tQuery single/double mutant fitness\tArray single mutant fitness\t"
    "Combined mutant fitness\tCombined mutant fitness standard deviation"
)
KUZMIN_ROWS = [
    # real Data S1 row: digenic = single deletion + hoΔ marker, query fitness empty
    "YAL015C+YDL227C_tm461\tntg1Δ+hoΔ\tYBL007C_dma91\tsla1Δ\tdigenic\t0.007534\t0.007534\t"
    "4.50E-01\t\t0.962\t0.9695\t0.0465",
    "YAL015C+YBR098W_tm100\tntg1Δ+mms4Δ\tYBL023C_tsa111\tmcm2-1\ttrigenic\t-0.12\t-0.09\t0.01\t"
    "0.8\t0.9\t0.5\t0.05",
    # the same triple with the query genes swapped: one genotype, two measurements
    "YBR098W+YAL015C_tm101\tmms4Δ+ntg1Δ\tYBL023C_tsa111\tmcm2-1\ttrigenic\t-0.14\t-0.11\t0.2\t"
    "0.8\t0.9\t0.4\t0.05",
]


def _write(tmp_path: Path, name: str, header: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _by_genes(ds: GenotypeDataset) -> dict[frozenset[str], tuple[list[float], int]]:
    return {
        frozenset(g): (ds.values[i].tolist(), int(ds.counts[i])) for i, g in enumerate(ds.genes)
    }


# -- strain ids and allele types ----------------------------------------------------------------
def test_strain_ids_parse_by_pattern() -> None:
    assert strain_orfs("YAL002W_sn1003") == (("YAL002W",), "sn1003")
    assert strain_orfs("YAL015C+YDL227C_tm461") == (("YAL015C", "YDL227C"), "tm461")
    assert strain_orfs("YAL016C-A_dma7") == (("YAL016C-A",), "dma7")
    assert strain_orfs("YAL002W") == (("YAL002W",), "")
    for bad in ("ntg1_sn1", "Q0010_sn1", "YAL015C+ho_tm1", "YAL15C_dma1", "_dma1"):
        assert strain_orfs(bad) is None, bad


def test_allele_type_rules() -> None:
    assert allele_type("damp12", "mcm2-damp") == "damp"
    assert allele_type("tsq12", "lcb1-10") == "ts"
    assert allele_type("tsa606", "lcb1-10") == "ts"
    assert allele_type("sn1898", "ntc20") == "deletion"
    assert allele_type("dma3", "ntc20") == "deletion"
    assert allele_type("tm461", "ntg1Δ") == "deletion"
    assert allele_type("x1", "abc1", "TSA30") == "ts"
    assert allele_type("x1", "abc1", "DMA26") == "deletion"
    assert allele_type("tm1", "cdc28-1") == "ts"
    assert allele_type("tm1", "abc1") == "other"


# -- Costanzo 2016 ------------------------------------------------------------------------------
def test_costanzo_epsilon_duplicates_averaged(tmp_path: Path) -> None:
    ds = read_costanzo2016(_write(tmp_path, "SGA_ExN_NxE.txt", COSTANZO_HEADER, COSTANZO_ROWS))
    assert ds.phenotypes == ["epsilon"] and len(ds) == 4
    rows = _by_genes(ds)
    assert rows[frozenset({"YBR188C", "YMR296C"})] == (
        [pytest.approx((-0.1255 - 0.2) / 2)],
        2,
    )
    assert rows[frozenset({"YAL002W", "YAL015C"})] == ([0.05], 1)
    assert ds.genes[0] == ("YBR188C", "YMR296C")  # first-seen order
    assert ds.meta is not None
    assert ds.meta["allele_types"].tolist() == [
        "deletion+ts",
        "deletion+deletion",
        "damp+deletion",
        "deletion+deletion",
    ]
    assert ds.meta["arraytype"].tolist()[:2] == ["DMA30|TSA26", "DMA30"]


def test_costanzo_dmf_skips_missing_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "SGA_NxN.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    with pytest.warns(UserWarning, match="skipped 1 rows without dmf"):
        ds = read_costanzo2016(path, phenotype="dmf")
    assert ds.phenotypes == ["dmf"] and len(ds) == 3
    assert _by_genes(ds)[frozenset({"YBR188C", "YMR296C"})] == ([pytest.approx(0.53895)], 2)


def test_costanzo_filters(tmp_path: Path) -> None:
    path = _write(tmp_path, "SGA_ExE.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    strong = read_costanzo2016(path, max_pvalue=0.05)
    assert _by_genes(strong) == {
        frozenset({"YBR188C", "YMR296C"}): ([-0.2], 1),
        frozenset({"YBL023C", "YAL002W"}): ([-0.3], 1),
    }
    big = read_costanzo2016(path, min_abs_epsilon=0.1)
    assert {frozenset(g) for g in big.genes} == {
        frozenset({"YBR188C", "YMR296C"}),
        frozenset({"YBL023C", "YAL002W"}),
    }
    deletions = read_costanzo2016(path, allele_types=["deletion"])
    assert sorted(map(sorted, deletions.genes)) == [["YAL002W", "YAL015C"], ["YAL002W", "YDR001C"]]
    no_damp = read_costanzo2016(path, allele_types=["deletion", "ts"])
    assert len(no_damp) == 3 and "YBL023C" not in {g for gs in no_damp.genes for g in gs}
    with pytest.raises(ConfigError, match="unknown allele type"):
        read_costanzo2016(path, allele_types=["knockout"])
    with pytest.raises(ConfigError, match="'epsilon' or 'dmf'"):
        read_costanzo2016(path, phenotype="tau")
    with pytest.raises(InputError, match="no genotypes left"):
        read_costanzo2016(path, max_pvalue=1e-9)


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("YAL002W_sn1003\tvps8\tYAL015C_dma1\tntg1\tDMA30\t0.05\t0.5", "expected 11"),
        ("vps8_sn1003\tvps8\tYAL015C_dma1\tntg1\tDMA30\t0.05\t0.5\t1\t1\t1\t0.1", "no systematic"),
        ("YAL002W_sn1003\tvps8\tYAL015C_dma1\tntg1\tDMA30\tabc\t0.5\t1\t1\t1\t0.1", "not a number"),
    ],
)
def test_costanzo_malformed_line_names_file_and_line(
    tmp_path: Path, row: str, problem: str
) -> None:
    path = _write(tmp_path, "bad.txt", COSTANZO_HEADER, [COSTANZO_ROWS[0], row])
    with pytest.raises(InputError, match=problem) as err:
        read_costanzo2016(path)
    assert str(err.value).startswith(f"{path}:3: ")


def test_costanzo_missing_column(tmp_path: Path) -> None:
    header = COSTANZO_HEADER.replace("Array Strain ID", "Array ID")
    path = _write(tmp_path, "bad.txt", header, COSTANZO_ROWS[:1])
    with pytest.raises(InputError, match="missing column") as err:
        read_costanzo2016(path)
    assert str(err.value).startswith(f"{path}:1: ")


def test_costanzo_data_file_zip(tmp_path: Path) -> None:
    """Data File S1 is a zip of the four SGA files; one gene set across files is one genotype."""
    folder = "Data File S1. Raw genetic interaction datasets: Pair-wise interaction format"
    path = tmp_path / "sga.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{folder}/SGA_ExN_NxE.txt", "\n".join([COSTANZO_HEADER, *COSTANZO_ROWS[:1]]))
        zf.writestr(f"{folder}/SGA_NxN.txt", "\n".join([COSTANZO_HEADER, *COSTANZO_ROWS[1:3]]))
        zf.writestr(f"{folder}/strain_ids_and_single_mutant_fitness.xlsx", b"PK\x03\x04")
    assert sniff_format(path) == "costanzo2016"
    ds = load_screen(path)
    assert len(ds) == 2 and ds.source == str(path)
    assert _by_genes(ds)[frozenset({"YBR188C", "YMR296C"})][1] == 2
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(f"{folder}/SGA_ExE.txt", f"{COSTANZO_HEADER}\nYAL002W_sn1\tx\n")
    with pytest.raises(InputError, match="expected 11") as err:
        load_screen(path)
    assert f"{path}!{folder}/SGA_ExE.txt:2: " in str(err.value)


# -- Kuzmin 2018 --------------------------------------------------------------------------------
def test_kuzmin_phenotypes_and_ho(tmp_path: Path) -> None:
    path = _write(tmp_path, "aao1729_data_s1.tsv", KUZMIN_HEADER, KUZMIN_ROWS)
    tau = read_kuzmin2018(path)
    assert tau.phenotypes == ["tau"]
    assert tau.genes == [("YAL015C", "YBL007C"), ("YAL015C", "YBR098W", "YBL023C")]
    assert tau.values[:, 0].tolist() == [0.007534, pytest.approx(-0.10)]
    assert tau.counts.tolist() == [1, 2]
    assert tau.meta is not None
    assert tau.meta["mutant_type"].tolist() == ["digenic", "trigenic"]
    assert tau.meta["allele_types"].tolist() == ["deletion+deletion", "deletion+deletion+ts"]
    eps = read_kuzmin2018(path, phenotype="epsilon")
    assert eps.values[1, 0] == pytest.approx(-0.13)
    fit = read_kuzmin2018(path, phenotype="fitness")
    assert fit.values[:, 0].tolist() == [0.9695, pytest.approx(0.45)]
    with_ho = read_kuzmin2018(path, drop_ho=False)
    assert with_ho.genes[0] == ("YAL015C", "YDL227C", "YBL007C")


def test_kuzmin_filters(tmp_path: Path) -> None:
    path = _write(tmp_path, "s1.tsv", KUZMIN_HEADER, KUZMIN_ROWS)
    tri = read_kuzmin2018(path, mutant_types=["trigenic"])
    assert len(tri) == 1 and tri.counts.tolist() == [2]
    strong = read_kuzmin2018(path, max_pvalue=0.05)
    assert strong.genes == [("YAL015C", "YBR098W", "YBL023C")] and strong.values[0, 0] == -0.09
    only_deletions = read_kuzmin2018(path, allele_types=["deletion"])
    assert only_deletions.genes == [("YAL015C", "YBL007C")]
    with pytest.raises(ConfigError, match="unknown mutant type"):
        read_kuzmin2018(path, mutant_types=["quadrigenic"])
    with pytest.raises(ConfigError, match="'tau', 'epsilon' or 'fitness'"):
        read_kuzmin2018(path, phenotype="dmf")


@pytest.mark.parametrize(
    ("query", "problem"),
    [("ntg1+ho_tm461", "no systematic ORF"), ("YAL015C+HO_tm461", "no systematic ORF")],
)
def test_kuzmin_strain_without_orf(tmp_path: Path, query: str, problem: str) -> None:
    bad = KUZMIN_ROWS[1].replace("YAL015C+YBR098W_tm100", query)
    path = _write(tmp_path, "s1.tsv", KUZMIN_HEADER, [KUZMIN_ROWS[0], bad])
    with pytest.raises(InputError, match=problem) as err:
        read_kuzmin2018(path)
    assert str(err.value).startswith(f"{path}:3: ") and query in str(err.value)


def test_kuzmin_data_s2_layout(tmp_path: Path) -> None:
    """Data S2 (treated) has only the adjusted score: tau reads, raw epsilon is a clear error."""
    header = (
        "Query strain ID\tQuery allele name\tArray strain ID\tArray allele name\t"
        "Combined mutant type\tAdjusted genetic interaction\tP-value\tInteraction type"
    )
    row = "YAL015C+YBR098W_tm100\tntg1Δ+mms4Δ\tYBL023C_tsa111\tmcm2-1\ttrigenic\t-0.09\t0.01\tnovel"
    path = _write(tmp_path, "s2.tsv", header, [row, row.replace("\t0.01\t", "\t0.01")])
    with pytest.raises(InputError, match="expected 8 tab-separated fields, got 7") as err:
        read_kuzmin2018(path)
    assert str(err.value).startswith(f"{path}:3: ")
    path = _write(tmp_path, "s2.tsv", header, [row])
    assert read_kuzmin2018(path).values.tolist() == [[-0.09]]
    with pytest.raises(InputError, match="missing column.*epsilon") as err:
        read_kuzmin2018(path, phenotype="epsilon")
    assert str(err.value).startswith(f"{path}:1: ")


# -- sniffing and dispatch ----------------------------------------------------------------------
def test_sniff_and_load_genotypes_dispatch(tmp_path: Path) -> None:
    costanzo = _write(tmp_path, "c.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    kuzmin = _write(tmp_path, "k.tsv", KUZMIN_HEADER, KUZMIN_ROWS)
    table = tmp_path / "t.csv"
    table.write_text("genes,fitness,score\nYML032C;YER095W,0.5,-0.2\n")
    dcell = tmp_path / "d.txt"
    dcell.write_text("2 YML032C YER095W 0.5\n")
    formats = {p: sniff_format(p) for p in (costanzo, kuzmin, table, dcell)}
    assert list(formats.values()) == ["costanzo2016", "kuzmin2018", "table", "dcell"]
    assert load_genotypes(costanzo).phenotypes == ["epsilon"]
    assert len(load_genotypes(kuzmin)) == 2
    assert load_screen(table, phenotype="score").values.tolist() == [[-0.2]]
    assert load_screen(dcell).phenotypes == ["value"]
    assert load_screen(costanzo, phenotype="dmf", max_pvalue=0.05).phenotypes == ["dmf"]
    assert load_screen(kuzmin, format="kuzmin2018", mutant_types=["digenic"]).counts.tolist() == [1]
    with pytest.raises(ConfigError, match="unknown genotype format"):
        load_screen(dcell, format="csv")
    with pytest.raises(ConfigError, match="kuzmin2018 takes filters"):
        load_screen(kuzmin, min_abs_epsilon=0.1)
    with pytest.raises(ConfigError, match="apply to screen formats"):
        load_screen(dcell, max_pvalue=0.05)
    with pytest.raises(ConfigError, match="no phenotype 'tau'"):
        load_screen(table, phenotype="tau")


def test_meta_follows_subset_and_is_checked(tmp_path: Path) -> None:
    ds = read_costanzo2016(_write(tmp_path, "c.txt", COSTANZO_HEADER, COSTANZO_ROWS))
    sub = ds.subset([2, 0])
    assert sub.meta is not None
    assert sub.meta["allele_types"].tolist() == ["damp+deletion", "deletion+ts"]
    # the same pair measured with a DAmP and a TS allele of YBL023C: both kinds are kept
    ts_row = "YBL023C_tsq3\tmcm2-1\tYAL002W_dma5\tvps8\tDMA26\t-0.1\t0.2\t0.8\t0.9\t0.6\t0.03"
    mixed = read_costanzo2016(_write(tmp_path, "m.txt", COSTANZO_HEADER, [*COSTANZO_ROWS, ts_row]))
    assert mixed.meta is not None and mixed.meta["allele_types"][2] == "damp+deletion|ts+deletion"
    assert mixed.meta["arraytype"][2] == "DMA26" and mixed.counts[2] == 2
    with pytest.raises(ConfigError, match="meta arrays need 1 rows"):
        GenotypeDataset([("A",)], np.zeros(1), ["v"], "x", meta={"k": np.array(["a", "b"])})


# -- symbols ------------------------------------------------------------------------------------
def test_real_symbol_table() -> None:
    table = load_symbol_table()
    assert table["RAD52"] == "YML032C" and table["RAD51"] == "YER095W" and table["HO"] == "YDL227C"
    # aliases: 'NTG1;OGG2;SCR1' -> YAL015C; a standard name beats another gene's alias
    assert table["NTG1"] == table["OGG2"] == "YAL015C"
    assert table["ALD4"] == "YOR374W"
    assert "ACR1" not in table  # an alias of three genes: ambiguous, not guessed


def test_map_gene_names_on_real_table() -> None:
    ds = GenotypeDataset(
        genes=[
            ("RAD52", "rad51"),
            ("YER095W", "YML032C"),
            ("NOTAGENE", "YML032C"),
            ("Q0050", "NOTAGENE"),
            ("RAD52", "YML032C"),
        ],
        values=np.array([1.0, 4.0, 0.5, 0.2, 7.0]),
        phenotypes=["value"],
        source="hand",
        counts=np.array([1, 3, 1, 1, 1]),
        meta={"note": np.array(["a", "b", "c", "d", "e"])},
    )
    out, unmapped = map_gene_names(ds, load_symbol_table())
    assert out.genes == [
        ("YML032C", "YER095W"),
        ("NOTAGENE", "YML032C"),
        ("Q0050", "NOTAGENE"),
        ("YML032C",),
    ]
    assert out.values[:, 0].tolist() == [pytest.approx((1.0 + 3 * 4.0) / 4), 0.5, 0.2, 7.0]
    assert out.counts.tolist() == [4, 1, 1, 1]
    assert out.meta is not None and out.meta["note"].tolist() == ["a|b", "c", "d", "e"]
    assert unmapped == Counter({"NOTAGENE": 2})
