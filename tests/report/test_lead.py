"""The answer's plain opening follows its tables, also where the numbers point the other way."""

from __future__ import annotations

from pathlib import Path

from dcellx.report.lead import lead
from dcellx.report.users import UsersPlan
from tests.report.test_answer import GUARD, cell, users

OLD, NEW = "torchcell-2017", "torchcell-latest"


def summary(median: float, lo: float, hi: float) -> dict:
    return {"median": median, "q05": lo, "q95": hi, "n": 1000, "undefined": 0}


def study(guard_old: float, guard_new: float, share: float) -> dict:
    """A constructed Table U0/U0b: exact at 1.0 on both builds, the guard at the given medians."""
    rows = []
    for design in ("first", "random", "query-pair"):
        for go, g in ((OLD, guard_old), (NEW, guard_new)):
            rows.append({"go": go, "design": design, "order": "any", "rule": "exact",
                         "ceiling": summary(1.0, 0.95, 1.0)})  # fmt: skip
            rows.append({"go": go, "design": design, "order": "recipe (sorted)", "rule": GUARD,
                         "ceiling": summary(g, g - 0.2, g + 0.2)})  # fmt: skip
    paired = [{"design": d, "order": "recipe (sorted)", "lower_share": share}
              for d in ("first", "random", "query-pair")]  # fmt: skip
    return {"gos": [OLD, NEW], "batches": 1000, "batch_size": 32, "rows": rows, "paired": paired}


def grid(guard_fit: tuple[float, float], wild: int, distinct: int) -> list[dict]:
    main = [cell(OLD, "exact", 0.97, 0.97), cell(NEW, "exact", 1.0, 1.0)]
    main += [
        cell(OLD, GUARD, guard_fit[0], guard_fit[0]),
        cell(NEW, GUARD, guard_fit[1], guard_fit[1]),
    ]
    for c in main:
        c["wildtype_inputs"] = 0
    main[2].update(wildtype_inputs=wild, distinct_inputs=distinct)
    return main


def test_the_guard_named_quoted_measured_and_fixed(tmp_path: Path) -> None:
    u = users(grid((0.220, 0.777), wild=27, distinct=6))
    u["plan"] = UsersPlan(seeds=[0, 1, 2], epochs=500, data=tmp_path / "t.txt")
    u["many_batches"] = study(0.27, 0.53, 0.97)
    sentences = lead(u)
    assert len(sentences) == 5
    bug, evidence, fix, embedding, limit = sentences
    assert "`if gene_idx < len(genes):`" in bug
    assert "on torchcell-2017, 27 of the 32 triple mutants of the first batch reach it as " in bug
    assert "only 6 distinct inputs remain" in bug
    assert "Over 1,000 simulated batches of 32 per batch design" in evidence
    assert "to a median of 0.270 on torchcell-2017 and 0.530 on torchcell-latest" in evidence
    assert "in 97 % of the same batches, against 1.000 with every deletion applied" in evidence
    assert "every batch-norm fit in Table U1 stops at its batch's ceiling" in evidence
    assert fix.startswith("The fix is one line: delete `if gene_idx < len(genes):`")
    assert "fit to r 0.970 / 1.000" in fix
    assert "cannot undo the guard" in embedding and "s_g" in embedding
    assert "simulated records" in limit and "--vocabulary" in limit


def test_a_guard_that_hides_nothing_is_not_blamed() -> None:
    # the guard's ceilings and fits equal exact's: no wild type, no fix, no cap
    main = grid((0.97, 1.0), wild=0, distinct=31)
    main[2]["distinct_inputs"] = main[0]["distinct_inputs"] = 31
    u = users(main)
    u["many_batches"] = study(1.0, 1.0, 0.0)
    bug, evidence, fix, *_ = lead(u)
    assert "hides no deletion of the first batch that matters" in bug
    assert "reach it as wild type" not in bug
    assert "the guard does not lower the ceiling" in evidence
    assert "so it does not explain a plateau in these records" in evidence
    assert "lower on torchcell-2017" not in evidence
    assert fix.startswith("Deleting `if gene_idx < len(genes):` does not raise the fit")
    assert "The fix is one line" not in fix


def test_fits_below_their_ceiling_are_counted_not_hidden() -> None:
    main = grid((0.220, 0.777), wild=27, distinct=6)
    main[3]["final_pearson_train_bn"]["mean"] = 0.5  # newest build's guard cell stops short
    u = users(main)
    u["many_batches"] = study(0.27, 0.53, 0.97)
    evidence = lead(u)[1]
    assert "3 of 4 batch-norm fits in Table U1 stop at their batch's ceiling" in evidence
    # without the many-batch study there is no evidence sentence, never an invented one
    del u["many_batches"]
    assert not any("simulated batches" in s for s in lead(u))
