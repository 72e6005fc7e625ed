"""``embedding-pooled``: R_t = sum_{g in direct(t), present} e_g, so

z_t += P_t (sum_g e_g - sum_{deleted} e_g)
"""

from __future__ import annotations

from dcellx.batch import PerturbationBatch
from dcellx.nn.genes.term_vectors import TermVectorInput


class PooledGenes(TermVectorInput):
    kind = "embedding-pooled"

    def _term_vectors(self, batch: PerturbationBatch):
        return self._pool(self.embedding, batch)
