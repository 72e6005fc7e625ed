"""What torchcell's index guard hides, on the real torchcell-2017 build and the simulated
trigenic screen the report uses; the answer follows the vocabulary order."""

from __future__ import annotations

import numpy as np
import pytest

from dcellx.data.trigenic import simulate_trigenic
from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.diagnose.hidden import hidden_deletions
from dcellx.ontology.vocabulary import recipe_vocabulary, with_vocabulary
from tests.conftest import compiled

GUARD = "torchcell-index-guard"


@pytest.fixture(scope="module")
def onto():
    return compiled("torchcell-2017")


@pytest.fixture(scope="module")
def first32():
    """The report's batch: the first 32 records of the seed-0 screen (one query pair)."""
    return simulate_trigenic(seed=0).dataset.subset(slice(0, 32))


def by_hand(batch, onto) -> tuple[int, int]:
    """(distinct visible gene sets, genotypes with none) straight from the arrays: gene g is seen
    in term t when its vocabulary position is below t's direct-gene count."""
    pos = dict(zip(onto.gene_ids, onto.vocabulary_positions().tolist(), strict=True))
    n_t = np.bincount(onto.gene_term[1], minlength=onto.num_terms)
    seen = {
        onto.gene_ids[g] for g, t in onto.gene_term.T.tolist() if pos[onto.gene_ids[g]] < n_t[t]
    }
    sets = [frozenset(g for g in genes if g in seen) for genes in batch.genes]
    return len(set(sets)), sum(not s for s in sets)


def test_the_report_batch_27_of_32_reach_the_model_as_wild_type(onto, first32) -> None:
    c = identifiability_ceiling(first32, onto, deletion_rule=GUARD)
    assert (c["distinct_inputs"], c["wildtype_inputs"]) == (6, 27) == by_hand(first32, onto)
    h = hidden_deletions(first32, onto)
    assert h["wild_type"] == 27 and h["genotypes"] == len(h["listed"])
    record = h["listed"][0]
    assert record["record"] == 1 and record["wild_type"]
    for gene in record["hidden"]:  # every listed term really hides the gene
        assert gene["hidden_in"] and all(
            gene["position"] >= t["direct_genes"] for t in gene["hidden_in"]
        )
    exact = hidden_deletions(first32, onto, "exact")
    assert exact["genotypes"] == 0 and exact["wild_type"] == 0


def test_another_vocabulary_order_gives_another_answer(onto, first32) -> None:
    sorted_vocab = recipe_vocabulary(onto)
    assert sorted_vocab == sorted(sorted_vocab)  # the recipe records the sorted id-map names
    # The batch's genes first: every one of them now sits below most terms' direct-gene counts.
    mine = sorted({g for gs in first32.genes for g in gs if g in onto.gene_index})
    front = with_vocabulary(onto, mine + [g for g in sorted_vocab if g not in set(mine)], "front")
    c = identifiability_ceiling(first32, front, deletion_rule=GUARD)
    assert (c["distinct_inputs"], c["wildtype_inputs"]) == by_hand(first32, front)
    # nearly exact's 31 (a gene of a small term can still sit past its direct-gene count)
    assert c["distinct_inputs"] == 30 and c["wildtype_inputs"] == 0
    back = with_vocabulary(onto, sorted_vocab[::-1], "reversed")
    r = identifiability_ceiling(first32, back, deletion_rule=GUARD)
    assert (r["distinct_inputs"], r["wildtype_inputs"]) == by_hand(first32, back) != (6, 27)
    # exact deletions do not read the vocabulary at all
    assert identifiability_ceiling(first32, back)["distinct_inputs"] == 31
