"""Small hand-made ontologies for exact filter checks."""

from __future__ import annotations

from pathlib import Path

import pytest

TYPEDEFS = "[Typedef]\nid: part_of\nname: part of\n\n[Typedef]\nid: regulates\nname: regulates\n"


def term(
    tid: str, name: str, *parents: str, ns: str = "biological_process", extra: str = ""
) -> str:
    lines = [f"[Term]\nid: {tid}\nname: {name}\nnamespace: {ns}"]
    for p in parents:
        if p.startswith("part_of ") or p.startswith("regulates "):
            lines.append(f"relationship: {p}")
        else:
            lines.append(f"is_a: {p}")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def write_obo(path: Path, stanzas: list[str]) -> Path:
    path.write_text("format-version: 1.2\nontology: go\n\n" + "\n".join(stanzas) + "\n" + TYPEDEFS)
    return path


def gaf_row(gene: str, term: str, ev: str = "IDA", date: str = "20170101", qual: str = "") -> str:
    cols = ["SGD", "S0", gene, qual, term, "PMID:1", ev, "", "P", "", gene, "gene"]
    cols += ["taxon:559292", date, "SGD", "", ""]
    return "\t".join(cols)


def write_gaf(path: Path, rows: list[str]) -> Path:
    path.write_text("!gaf-version: 2.1\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def tiny_obo(tmp_path: Path) -> Path:
    """BP root <- A <- {B, C}; C part_of A; D regulates B (ignored by default); E alt_id E2;
    F obsolete replaced_by C; G obsolete without replacement."""
    return write_obo(
        tmp_path / "tiny.obo",
        [
            term("GO:0008150", "biological_process"),
            term("GO:0000001", "A", "GO:0008150"),
            term("GO:0000002", "B", "GO:0000001"),
            term("GO:0000003", "C", "part_of GO:0000001"),
            term("GO:0000004", "D", "GO:0008150", "regulates GO:0000002"),
            term("GO:0000005", "E", "GO:0000002", extra="alt_id: GO:0000055"),
            term("GO:0000006", "F", extra="is_obsolete: true\nreplaced_by: GO:0000003"),
            term("GO:0000007", "G", extra="is_obsolete: true"),
        ],
    )
