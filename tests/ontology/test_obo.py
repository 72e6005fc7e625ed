"""dcellx's tolerant OBO reader: real-release counts, parity with pronto, and every defect kind.

A line in a tag dcellx does not use that fails the light syntax check is skipped and counted; a
defect in what dcellx uses is one ``InputError`` naming ``file:line``.
"""

from __future__ import annotations

import functools
import gzip
import re
from pathlib import Path

import pytest

from dcellx.errors import InputError
from dcellx.ontology.obo import GoRelease, read_obo
from tests.conftest import SHARED_DATA
from tests.ontology.conftest import term, write_obo
from tests.ontology.obo_pronto import read_obo_pronto

GO_2019 = SHARED_DATA / "go" / "go-2019-01-27.obo.gz"
GO_2024 = SHARED_DATA / "go" / "go-2024-09-08.obo.gz"
BP = "GO:0008150"


@functools.cache
def real(path: Path) -> GoRelease:
    """Each real release is read once per session (a few seconds each)."""
    return read_obo(path)


def line_no(path: Path, text: str) -> int:
    """1-based number of the first line of ``path`` equal to ``text``."""
    return path.read_text().splitlines().index(text) + 1


def small(tmp_path: Path, *stanzas: str, name: str = "t.obo") -> Path:
    """BP root <- A, plus ``stanzas``."""
    base = [term(BP, "biological_process"), term("GO:0000001", "A", BP)]
    return write_obo(tmp_path / name, base + list(stanzas))


# --- the real releases -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "live", "obsolete", "alt_ids", "is_a", "part_of", "version"),
    [
        (GO_2019, 45013, 2334, 2368, 77189, 7942, "releases/2019-01-27"),
        (GO_2024, 40939, 6965, 3357, 64364, 7471, "releases/2024-09-08"),
    ],
    ids=["2019", "2024"],
)
def test_real_release_counts(
    path: Path, live: int, obsolete: int, alt_ids: int, is_a: int, part_of: int, version: str
) -> None:
    rel = real(path)
    assert (len(rel.names), len(rel.obsolete), len(rel.alt_ids)) == (live, obsolete, alt_ids)
    edges = rel.edge_counts()
    assert (edges["is_a"], edges["part_of"]) == (is_a, part_of)
    # the full go.obo, not go-basic: other relations are present (and ignored by the build)
    assert {"regulates", "has_part", "occurs_in"} <= set(edges)
    assert (rel.skipped, rel.skipped_at) == (0, [])
    assert rel.data_version == version and rel.parser == "dcellx"
    assert rel.names["GO:0006281"] == "DNA repair"
    assert set(rel.namespaces.values()) == {
        "biological_process",
        "molecular_function",
        "cellular_component",
    }
    rec = rel.record()
    assert rec["live_terms"] == live and rec["skipped_lines"] == 0 and rec["edges"] == edges


@pytest.mark.slow
@pytest.mark.parametrize("path", [GO_2019, GO_2024], ids=["2019", "2024"])
def test_real_release_equals_pronto(path: Path) -> None:
    ours, oracle = real(path), read_obo_pronto(path)
    assert oracle.parser == "pronto"
    for attr in ("names", "namespaces", "alt_ids", "obsolete", "replaced_by", "consider"):
        assert getattr(ours, attr) == getattr(oracle, attr), attr
    assert set(ours.parents) == set(oracle.parents)
    for tid, edges in ours.parents.items():
        assert sorted(edges) == sorted(oracle.parents[tid]), tid


# --- skipped lines: tags dcellx does not use -------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "xref: EC 2.7.1.190",  # go-basic 2021-12-15: no PREFIX:ID
        'def: "A thing." [GOC:pz, Rhea: 36507]',  # 2021-06-16: space after the colon
        'synonym: "bee" WRONG [GOC:x]',  # unknown scope
        "synonym: bee EXACT []",  # unquoted text
    ],
    ids=["xref-space", "def-dbxref-space", "synonym-scope", "synonym-unquoted"],
)
def test_unused_tag_defect_is_skipped_and_counted(tmp_path: Path, bad: str) -> None:
    path = small(tmp_path, term("GO:0000002", "B", "GO:0000001", extra=bad))
    rel = read_obo(path)
    assert rel.skipped == 1 and rel.skipped_at == [f"{path}:{line_no(path, bad)}"]
    assert rel.record()["skipped_lines"] == 1
    # the term itself is read as if the line were absent
    assert rel.names["GO:0000002"] == "B" and rel.parents["GO:0000002"] == [("GO:0000001", "is_a")]


def test_skipped_positions_kept_are_the_first_five(tmp_path: Path) -> None:
    stanzas = [term(f"GO:10000{i:02d}", f"T{i}", BP, extra="xref: EC 1.1.1.1") for i in range(7)]
    path = small(tmp_path, *stanzas)
    rel = read_obo(path)
    lines = [n for n, x in enumerate(path.read_text().splitlines(), 1) if x == "xref: EC 1.1.1.1"]
    assert rel.skipped == 7 and rel.skipped_at == [f"{path}:{n}" for n in lines[:5]]


def test_skip_positions_in_a_gzip_file(tmp_path: Path) -> None:
    plain = small(tmp_path, term("GO:0000002", "B", BP, extra="xref: EC 2.7.1.190"))
    gz = tmp_path / "t.obo.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_obo(gz).skipped_at == [f"{gz}:{line_no(plain, 'xref: EC 2.7.1.190')}"]


def test_pronto_refuses_what_dcellx_skips(tmp_path: Path) -> None:
    """Why the tolerant reader exists: one unused malformed line and pronto loads nothing."""
    path = small(tmp_path, term("GO:0000002", "B", BP, extra="xref: EC 2.7.1.190"))
    n = line_no(path, "xref: EC 2.7.1.190")
    with pytest.raises(InputError, match="^" + re.escape(f"{path}:{n}: malformed OBO")):
        read_obo_pronto(path)
    assert len(read_obo(path).names) == 3


def test_typedef_is_a_is_not_checked(tmp_path: Path) -> None:
    typedef = "[Typedef]\nid: positively_regulates\nname: positively regulates\nis_a: regulates\n"
    rel = read_obo(small(tmp_path, typedef))
    assert set(rel.names) == {BP, "GO:0000001"} and rel.skipped == 0


def test_comments_and_trailing_qualifiers_are_stripped(tmp_path: Path) -> None:
    extra = 'is_a: GO:0000001 {source="x"} ! A\nrelationship: part_of GO:0008150 ! bp'
    rel = read_obo(small(tmp_path, term("GO:0000002", "B \\! C", extra=extra)))
    assert rel.names["GO:0000002"] == "B ! C"
    assert rel.parents["GO:0000002"] == [("GO:0000001", "is_a"), (BP, "part_of")]


def test_comment_after_a_tab(tmp_path: Path) -> None:
    # regression: only " !" used to start a comment, so this valid is_a line was refused
    rel = read_obo(small(tmp_path, term("GO:0000002", "B", extra="is_a: GO:0000001\t! A")))
    assert rel.parents["GO:0000002"] == [("GO:0000001", "is_a")]


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("a\\:b \\{c\\}", "a:b {c}"),  # regression: an escaped "}" was cut as a {qualifier}
        ("tab\\tnew\\nline", "tab\tnew\nline"),  # regression: \t and \n were kept verbatim
        ('x \\\\\\" y', 'x \\" y'),  # escaped backslash, then escaped quote
        ("a\\Wb", "aWb"),  # regression: any other \\X reads as X (was kept verbatim)
    ],
    ids=["escaped-braces", "tab-newline", "backslash-quote", "W"],
)
def test_name_escapes_read_as_pronto_reads_them(tmp_path: Path, raw: str, name: str) -> None:
    path = small(tmp_path, term("GO:0000002", raw, BP))
    assert read_obo(path).names["GO:0000002"] == name
    assert read_obo_pronto(path).names["GO:0000002"] == name


# --- refusals: defects in what dcellx uses ----------------------------------------------------


def refusal(path: Path) -> str:
    with pytest.raises(InputError) as exc:
        read_obo(path)
    return str(exc.value)


def test_term_without_id_names_the_stanza_header(tmp_path: Path) -> None:
    path = small(
        tmp_path, "[Term]\nname: nameless\nnamespace: biological_process\nis_a: GO:0000001"
    )
    header = line_no(path, "name: nameless") - 1
    assert path.read_text().splitlines()[header - 1] == "[Term]"
    assert refusal(path) == f"{path}:{header}: [Term] stanza without an id"


def test_is_a_to_undefined_id(tmp_path: Path) -> None:
    path = small(tmp_path, term("GO:0000002", "B", "GO:0000009"))
    n = line_no(path, "is_a: GO:0000009")
    assert refusal(path) == f"{path}:{n}: is_a of GO:0000002 names GO:0000009, defined nowhere"


def test_part_of_to_undefined_id(tmp_path: Path) -> None:
    path = small(tmp_path, term("GO:0000002", "B", "GO:0000001", "part_of GO:0000009"))
    n = line_no(path, "relationship: part_of GO:0000009")
    assert refusal(path) == f"{path}:{n}: part_of of GO:0000002 names GO:0000009, defined nowhere"


def test_unchecked_relation_to_undefined_id_is_kept(tmp_path: Path) -> None:
    # only is_a and part_of targets must exist; a regulates edge to elsewhere is not a defect
    path = small(tmp_path, term("GO:0000002", "B", "GO:0000001", "regulates GO:0000009"))
    assert ("GO:0000009", "regulates") in read_obo(path).parents["GO:0000002"]


def test_is_a_cycle(tmp_path: Path) -> None:
    path = small(
        tmp_path,
        term("GO:0000002", "B", "GO:0000001", "GO:0000003"),
        term("GO:0000003", "C", "GO:0000002"),
    )
    n = line_no(path, "id: GO:0000002") - 1  # the stanza of the cycle's first term
    assert refusal(path) == (
        f"{path}:{n}: cycle in the term hierarchy (is_a): GO:0000002 -> GO:0000003 -> GO:0000002"
    )


def test_self_is_a_is_a_cycle(tmp_path: Path) -> None:
    path = small(tmp_path, term("GO:0000002", "B", "GO:0000002"))
    assert refusal(path).endswith("(is_a): GO:0000002 -> GO:0000002")


def test_line_not_tag_value(tmp_path: Path) -> None:
    path = small(tmp_path, term("GO:0000002", "B", BP, extra="this is not a tag line"))
    n = line_no(path, "this is not a tag line")
    assert refusal(path).startswith(f"{path}:{n}: malformed OBO line 'this is not a tag line'")


def test_non_utf8_byte(tmp_path: Path) -> None:
    path = small(tmp_path, term("GO:0000002", "B-name", BP))
    n = line_no(path, "name: B-name")
    path.write_bytes(path.read_bytes().replace(b"B-name", b"B\xe9name"))
    assert refusal(path) == f"{path}:{n}: not UTF-8 (byte 0xe9)"
