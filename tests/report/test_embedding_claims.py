"""What the answer says about gene embeddings follows Tables U3b, U3c and U6, both ways round."""

from __future__ import annotations

from typing import Any

from dcellx.report.cells import TEST_METRICS, _stats, cells_from_values
from dcellx.report.embedding_claims import (
    generalisation_sentence,
    guard_embedding_sentence,
    query_pair_sentence,
    scale_sentence,
)
from dcellx.report.lead import embedding_sentence
from tests.report.test_answer import GUARD, cell


def gen_cell(variant: str, split: str, test_r: list[float]) -> dict[str, Any]:
    """A constructed Table U6 cell: per-seed test Pearson (the other columns alike)."""
    c: dict[str, Any] = {"variant": variant, "split": split, "seeds": len(test_r)}
    for m in TEST_METRICS:
        c[m] = _stats(test_r if m != "epochs" else [40.0] * len(test_r))
    return c


def generalisation(emb_genes: list[float]) -> list[dict[str, Any]]:
    return [
        gen_cell("binary", "random", [0.33, 0.35, 0.34]),
        gen_cell("embedding-pooled", "random", [0.33, 0.34, 0.35]),
        gen_cell("binary", "genes", [0.20, 0.22, 0.24]),
        gen_cell("embedding-pooled", "genes", emb_genes),
        gen_cell("binary", "pairs", [0.30, 0.31, 0.32]),
        gen_cell("embedding-pooled", "pairs", [0.29, 0.31, 0.33]),
    ]


def test_an_embedding_that_does_not_beat_binary_on_held_out_genes_is_said_so() -> None:
    u = {"generalisation": generalisation([0.19, 0.23, 0.25]), "main": []}
    s = generalisation_sentence(u)
    assert s is not None and "no embedding predicts better than binary" in s
    assert "held-out genes: binary 0.220, embedding-pooled 0.223" in s
    lead = embedding_sentence(u)
    assert "is not seen on the real DNA-repair pairs (test Pearson, held-out genes: " in lead
    assert lead.endswith("; Table U6).") and lead.count("(") == lead.count(")")


def test_an_embedding_that_beats_binary_beyond_the_seed_spread_is_named() -> None:
    u = {"generalisation": generalisation([0.40, 0.42, 0.44]), "main": []}
    s = generalisation_sentence(u)
    assert s is not None and "embedding-pooled (genes) predict better than binary" in s
    lead = embedding_sentence(u)
    assert "is seen on the real DNA-repair pairs for embedding-pooled on held-out genes" in lead
    assert lead.endswith("(beyond the seed spread; Table U6).")


def test_without_generalisation_runs_the_gain_is_called_unmeasured() -> None:
    assert generalisation_sentence({"main": []}) is None
    assert "was not measured here" in embedding_sentence({"main": []})


def guard_cells(r: float) -> list[dict[str, Any]]:
    out = []
    for go, ceiling in (("torchcell-2017", 0.22), ("torchcell-latest", 0.777)):
        for v in ("embedding-pooled", "embedding-deepset"):
            out.append(cell(go, GUARD, min(r, ceiling), ceiling, variant=v, spread=0.0))
    return out


def test_embeddings_under_the_guard_stay_at_their_ceiling() -> None:
    u = {"guard_embeddings": guard_cells(1.0), "main": []}
    s = guard_embedding_sentence(u)
    assert s is not None and "no embedding variant passes the ceiling" in s
    assert "0.220 on torchcell-2017 and 0.777 on torchcell-latest" in s
    assert "4 of 4 variant-build cells end within 0.02" in s
    assert "stops at or below the same ceiling, Table U3b" in embedding_sentence(u)


def test_an_embedding_above_its_ceiling_is_flagged_not_hidden() -> None:
    rows = guard_cells(1.0)
    rows[0]["final_pearson_train_bn"] = _stats([0.5, 0.5, 0.5])  # above 0.22: impossible
    u = {"guard_embeddings": rows, "main": []}
    s = guard_embedding_sentence(u)
    assert s is not None and "embedding-pooled on torchcell-2017 (0.500) end above" in s
    assert "Table U3b" not in embedding_sentence(u).split(";")[0]


def test_the_scale_of_e_g_credited_only_when_it_lifts_the_fit() -> None:
    default = cells_from_values("embedding", [0.934, 0.939, 0.985], [0.1] * 3, [500] * 3)
    fixed = cells_from_values("embedding", [0.9995, 0.9996, 0.9997], [0.1] * 3, [80] * 3)
    fixed["embedding_init_std"] = 0.35355
    s = scale_sentence({"embeddings": [default], "embedding_scale": [fixed]})
    assert s is not None and "is an optimisation effect of e_g's scale" in s
    same = cells_from_values("embedding", [0.93, 0.94, 0.98], [0.1] * 3, [500] * 3)
    same["embedding_init_std"] = 0.35355
    s = scale_sentence({"embeddings": [default], "embedding_scale": [same]})
    assert s is not None and "its plateau is not e_g's scale alone" in s


def test_query_pair_hold_out_judged_by_seed_spread() -> None:
    rows = [gen_cell("binary", "random", [0.30, 0.31, 0.32])]
    rows.append(gen_cell("embedding-pooled", "random", [0.29, 0.31, 0.33]))
    s = query_pair_sentence({"query_pairs": rows})
    assert s is not None and "no embedding predicts better than binary" in s
    rows.append(gen_cell("additive", "random", [0.67, 0.68, 0.69]))
    s = query_pair_sentence({"query_pairs": rows})
    assert s is not None and "embedding-pooled 0.310, the additive baseline 0.680; Table U7" in s
    rows[1] = gen_cell("embedding-pooled", "random", [0.40, 0.41, 0.42])
    s = query_pair_sentence({"query_pairs": rows})
    assert s is not None and "embedding-pooled predict better than binary beyond" in s
    assert query_pair_sentence({"query_pairs": rows[:1]}) is None
