"""``dcellx data inspect``: the JSON report, the table, and bad input as one line with exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dcellx_cli.main import app, main
from tests.data.test_screens import COSTANZO_HEADER, COSTANZO_ROWS, _write


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, isolated_cache: Path, shared_data: Path) -> None:
    monkeypatch.setenv("DCELLX_MIRROR", str(shared_data))
    monkeypatch.setenv("DCELLX_OFFLINE", "1")


def test_inspect_json_on_a_screen(tmp_path: Path) -> None:
    path = _write(tmp_path, "SGA_ExE.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    args = ["data", "inspect", str(path), "--json", "--allele-types", "deletion,ts"]
    res = CliRunner().invoke(app, [*args, "--max-pvalue", "0.5", "--min-abs-epsilon", "0.1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["format"] == "costanzo2016" and out["rows"] == 5
    assert out["kept"] == {"allele_types": 4, "max_pvalue": 3, "min_abs_epsilon": 2}
    assert (out["measurements"], out["genotypes"], out["genes"]) == (2, 1, 2)
    assert out["filters"]["allele_types"] == ["deletion", "ts"]
    assert isinstance(out["seconds"], float) and out["peak_rss_mb"] > 0
    assert out["cached"] is False


def test_inspect_json_on_the_real_dna_repair_file_with_go() -> None:
    res = CliRunner().invoke(
        app, ["data", "inspect", "dcell-dna-repair-train", "--go", "dna-repair", "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("rows", "genotypes", "genes", "seconds", "peak_rss_mb", "unknown_genes"):
        assert key in out
    counts = (out["rows"], out["genotypes"], out["genes"], out["unknown_genes"])
    assert counts == (8783, 8783, 162, 0)


def test_inspect_table_and_cache(tmp_path: Path) -> None:
    path = _write(tmp_path, "SGA_ExE.txt", COSTANZO_HEADER, COSTANZO_ROWS)
    first = CliRunner().invoke(app, ["data", "inspect", str(path), "--cache", "--json"])
    second = CliRunner().invoke(app, ["data", "inspect", str(path), "--cache", "--json"])
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert not a["cached"] and b["cached"]
    assert {k: a[k] for k in ("rows", "genotypes", "genes")} == {
        k: b[k] for k in ("rows", "genotypes", "genes")
    }
    res = CliRunner().invoke(app, ["data", "inspect", str(path), "--max-pvalue", "0.05"])
    assert res.exit_code == 0, res.output
    assert "rows read" in res.output and "kept after max_pvalue=0.05" in res.output


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = COSTANZO_ROWS[0].replace("YBR188C_sn1898", "ntc20_sn1898")
    path = _write(tmp_path, "bad.txt", COSTANZO_HEADER, [COSTANZO_ROWS[1], bad])
    monkeypatch.setattr(sys, "argv", ["dcellx", "data", "inspect", str(path), "--json"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}:3: strain id 'ntc20_sn1898'") and "\n" not in err
    monkeypatch.setattr(sys, "argv", ["dcellx", "data", "inspect", str(path), "--format", "csv"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert "unknown genotype format 'csv'" in capsys.readouterr().err
