"""Table U0: the many-batch study on constructed builds (pairing checked batch by batch), its
table and figure; and a sweep read back from the compare.csv the example report keeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.diagnose.batches import draw_batches, rule_values
from dcellx.ontology.vocabulary import with_vocabulary
from dcellx.report.ceilings import FIGURE, figure, many_batch_study, table_lines
from dcellx.report.cells import cells
from dcellx.report.sweeps import read_table, sweep
from dcellx.report.users import UsersPlan, sweeps
from tests.diagnose.conftest import tiny_onto as tiny_fixture
from tests.diagnose.test_batches import POOL, QUERIES

GUARD = "torchcell-index-guard"
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example-report" / "sweeps"


def screen() -> GenotypeDataset:
    rows = [(*q, a) for q in QUERIES for a in POOL if a not in q]
    y = np.random.default_rng(7).normal(size=len(rows))
    return GenotypeDataset(rows, y[:, None], ["v"], "constructed")


def test_study_rows_pairing_table_and_figure(tmp_path: Path) -> None:
    base = tiny_fixture.__wrapped__()
    # "old" hides more: the guard lets only B through (position 0 < 2 in T0), where the
    # build's own order lets A and B through
    old = with_vocabulary(base, ["B", "X1", "A", "C", "D"], "late")
    ds = screen()
    study = many_batch_study(ds, {"old": old, "new": base}, batches=60, batch_size=4, shuffles=1)
    # per build and design: exact once, the guard in the recipe order and one shuffle
    assert len(study["rows"]) == 2 * 3 * 3
    assert {r["order"] for r in study["rows"] if r["rule"] == "exact"} == {"any"}
    checked = False
    for p in study["paired"]:
        rows = draw_batches(ds, 4, 60, p["design"], 0)
        onto_old = old if p["order"] == "recipe (sorted)" else None
        if onto_old is None:
            continue  # shuffled orders: the same code path, checked in the sorted order
        a = rule_values(ds, old, rows, GUARD)["ceiling"]
        b = rule_values(ds, base, rows, GUARD)["ceiling"]
        ok = ~np.isnan(a) & ~np.isnan(b)
        assert p["batches"] == ok.sum() > 10
        assert p["lower_share"] == (a[ok] < b[ok]).mean()
        checked = True
    assert checked
    lines = table_lines(study, "constructed.txt", "dcellx report ...")
    assert sum(line.startswith("| old |") or line.startswith("| new |") for line in lines) == 18
    assert any("Table U0b: old against new" in line for line in lines)
    assert figure(tmp_path, study) == FIGURE and (tmp_path / FIGURE).stat().st_size > 1000


def test_a_sweep_kept_as_its_compare_csv_is_read_back() -> None:
    res = read_table(EXAMPLE / "users-main")
    assert res.grid_keys == ["go", "deletion_rule", "norm", "batch_seed"]
    assert len(res.runs) == 48 and {r["batch_seed"] for r in res.runs} == {None, 1}
    assert {r["seed"] for r in res.runs} == {0, 1, 2}
    presets = read_table(EXAMPLE / "users-presets")
    assert {r["go"] for r in presets.runs} >= {"2017"}  # a --go name stays text
    main = cells(res, ["go", "deletion_rule", "norm", "batch_seed"])
    guard = [c for c in main if (c["go"], c["deletion_rule"], c["norm"], c["batch_seed"])
             == ("torchcell-2017", GUARD, "batch", None)]  # fmt: skip
    assert abs(guard[0]["final_pearson_train_bn"]["mean"] - 0.2201) < 1e-4  # Table U1's 0.220
    # collect-only on such a directory reads the table and writes nothing
    plan = UsersPlan(seeds=[0, 1, 2], epochs=500, data=EXAMPLE / "absent.txt")
    sw = sweeps(plan)[0]
    before = sorted(p.name for p in (EXAMPLE / sw.name).iterdir())
    got = sweep(plan, sw.name, sw.variants, sw.grid, sw.spec, EXAMPLE, console=None, run=False)
    assert len(got.runs) == 48 and sorted(p.name for p in (EXAMPLE / sw.name).iterdir()) == before
    # and a report that runs (no --collect-only) counts a kept table as done: nothing runs again
    got = sweep(plan, sw.name, sw.variants, sw.grid, sw.spec, EXAMPLE, console=None, run=True)
    assert len(got.runs) == 48 and sorted(p.name for p in (EXAMPLE / sw.name).iterdir()) == before
