"""Issue 14 item 6: a byte that is not UTF-8 in a GAF, OBO, topology, three-column, gene-list or
genotype file is refused with ``file:line`` (exit 2, one line), never decoded with replacement
into a made-up name; nothing is cached and no run directory is made."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dcellx.data.screens import load_screen
from dcellx.errors import InputError
from dcellx.ontology.annotations import read_annotations
from tests.ontology.conftest import gaf_row, term, write_gaf, write_obo
from tests.reliability.support import files_under, one_line

pytestmark = pytest.mark.usefixtures("reliability_env")

BAD = b"\xff"


def corrupt(path: Path, needle: bytes, replacement: bytes) -> int:
    """Replace ``needle`` once by ``replacement`` (holding a non-UTF-8 byte); return its line."""
    raw = path.read_bytes()
    at = raw.index(needle)
    path.write_bytes(raw[:at] + replacement + raw[at + len(needle) :])
    return raw.count(b"\n", 0, at) + 1


def small_release(tmp_path: Path) -> tuple[Path, Path]:
    bp = "GO:0008150"
    obo = write_obo(
        tmp_path / "small.obo",
        [
            term(bp, "biological_process"),
            term("GO:0000001", "A", bp),
            term("GO:0000002", "B-name", "GO:0000001"),
        ],
    )
    rows = [gaf_row(g, "GO:0000002") for g in ("YAL001C", "YAL002W", "YAL003W")]
    gaf = write_gaf(tmp_path / "small.gaf", rows)
    return obo, gaf


def recipe(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(f'name = "r"\nuniverse = "annotated"\n{body}')
    return path


def test_gaf_byte_is_refused_with_file_line(tmp_path: Path, reliability_env: Path, cli) -> None:
    obo, gaf = small_release(tmp_path)
    line = corrupt(gaf, b"YAL002W", b"YAL0" + BAD + b"2W")
    with pytest.raises(InputError) as exc:  # the reader itself, not only the CLI
        read_annotations(gaf, "gaf", None, None)
    assert str(exc.value) == f"{gaf}:{line}: not UTF-8 (byte 0xff)"
    go = recipe(tmp_path, f'ontology = "{obo}"\nannotations = "{gaf}"\n')
    res = cli("ontology", "build", "--go", str(go))
    assert res.code == 2
    assert one_line(res) == f"error: {gaf}:{line}: not UTF-8 (byte 0xff)"
    assert files_under(reliability_env) == []  # no cache entry


def test_gzipped_gaf_names_the_line_of_the_decompressed_text(
    tmp_path: Path, reliability_env: Path, cli
) -> None:
    obo, gaf = small_release(tmp_path)
    line = corrupt(gaf, b"YAL003W", b"YAL00" + BAD + b"W")
    gz = tmp_path / "small.gaf.gz"
    gz.write_bytes(gzip.compress(gaf.read_bytes()))
    go = recipe(tmp_path, f'ontology = "{obo}"\nannotations = "{gz}"\n')
    res = cli("ontology", "build", "--go", str(go))
    assert res.code == 2
    assert one_line(res) == f"error: {gz}:{line}: not UTF-8 (byte 0xff)"
    assert files_under(reliability_env) == []


def test_obo_byte_is_refused_with_file_line(tmp_path: Path, reliability_env: Path, cli) -> None:
    obo, gaf = small_release(tmp_path)
    line = corrupt(obo, b"B-name", b"B\xe9name")  # Latin-1 e-acute
    go = recipe(tmp_path, f'ontology = "{obo}"\nannotations = "{gaf}"\n')
    res = cli("ontology", "build", "--go", str(go))
    assert res.code == 2
    assert one_line(res) == f"error: {obo}:{line}: not UTF-8 (byte 0xe9)"
    assert files_under(reliability_env) == []


def test_topology_byte_is_refused_with_file_line(
    tmp_path: Path, reliability_env: Path, shared_data: Path, cli
) -> None:
    topo = tmp_path / "topology"
    topo.write_bytes((shared_data / "dcell/GO_0006281_topology").read_bytes())
    line = corrupt(topo, b"GENES: ", b"GENES: Y" + BAD + b"L001C ")
    go = recipe(tmp_path, f'ontology = "{topo}"\nontology_format = "topology"\n')
    res = cli("ontology", "build", "--go", str(go))
    assert res.code == 2
    assert one_line(res) == f"error: {topo}:{line}: not UTF-8 (byte 0xff)"
    assert files_under(reliability_env) == []


def test_three_column_byte_is_refused_with_file_line(
    tmp_path: Path, reliability_env: Path, cli
) -> None:
    edges = tmp_path / "edges.txt"
    edges.write_bytes(b"ROOT\tT1\tdefault\nT1\tYAL001C\tgene\nT1\tYAL0" + BAD + b"2W\tgene\n")
    go = recipe(tmp_path, f'ontology = "{edges}"\nontology_format = "three-column"\n')
    res = cli("ontology", "build", "--go", str(go))
    assert res.code == 2
    assert one_line(res) == f"error: {edges}:3: not UTF-8 (byte 0xff)"
    assert files_under(reliability_env) == []


def test_gene_list_universe_byte_is_refused(tmp_path: Path, reliability_env: Path, cli) -> None:
    genes = tmp_path / "genes.txt"
    genes.write_bytes(b"# universe\nYAL001C\nYAL00" + BAD + b"W\n")
    res = cli("ontology", "build", "--go", "dna-repair", "--universe", str(genes))
    assert res.code == 2
    assert one_line(res) == f"error: {genes}:3: not UTF-8 (byte 0xff)"
    assert files_under(reliability_env) == []


@pytest.mark.parametrize(
    ("name", "content", "line", "byte"),
    [
        ("dcell.txt", b"# h\n2 YAL001C YAL002W 0.5\n2 YAL001C Y" + BAD + b"L003W 0.1\n", 3, 0xFF),
        ("table.csv", b"genes,fitness\nYAL001C;YAL002W,0.4\nYAL0" + BAD + b"1C,0.9\n", 3, 0xFF),
        ("latin1.csv", b"genes,fitness\n\xe9YAL001C,0.4\n", 2, 0xE9),
    ],
    ids=["dcell-format", "csv-table", "latin-1"],
)
def test_genotype_file_byte_is_refused_before_a_run_directory(
    tmp_path: Path, cli, name: str, content: bytes, line: int, byte: int
) -> None:
    data = tmp_path / name
    data.write_bytes(content)
    runs = tmp_path / "runs"
    res = cli(
        "overfit", "--go", "dna-repair", "--data", str(data), "--epochs", "1", "--threads", "1",
        "--runs-dir", str(runs), "-q",
    )  # fmt: skip
    assert res.code == 2
    assert one_line(res) == f"error: {data}:{line}: not UTF-8 (byte 0x{byte:02x})"
    assert not runs.exists()


COSTANZO_HEADER = (
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
    "Genetic interaction score (ε)\tP-value\tQuery single mutant fitness (SMF)\t"
    "Array SMF\tDouble mutant fitness\tDouble mutant fitness standard deviation"
)


def test_sga_screen_byte_is_refused_not_replaced(tmp_path: Path) -> None:
    rows = [
        "YAL001C_sn1\tabc1\tYAL002W_dma1\tdef1\tDMA30\t-0.2\t0.01\t0.9\t0.8\t0.5\t0.05",
        "YAL003W_sn2\tghi1\tYAL004W_dma2\tjkl1\tDMA30\t0.1\t0.02\t0.9\t0.9\t0.9\t0.05",
    ]
    path = tmp_path / "SGA_ExE.txt"
    path.write_text("\n".join([COSTANZO_HEADER, *rows]) + "\n", encoding="utf-8")
    assert len(load_screen(path)) == 2  # the header's ε is UTF-8 and reads
    line = corrupt(path, b"ghi1", b"gh" + BAD + b"1")
    with pytest.raises(InputError) as exc:
        load_screen(path)
    assert str(exc.value) == f"{path}:{line}: not UTF-8 (byte 0xff)"


def test_recipe_byte_is_refused_with_file_line(tmp_path: Path, reliability_env: Path, cli) -> None:
    go = tmp_path / "r.toml"
    go.write_bytes(b'name = "r"\ndescription = "caf\xe9"\nontology = "dcell-dna-repair-topology"\n')
    res = cli("ontology", "build", "--go", str(go))
    assert res.code == 2
    assert one_line(res) == f"error: {go}:2: not UTF-8 (byte 0xe9)"
    assert files_under(reliability_env) == []
