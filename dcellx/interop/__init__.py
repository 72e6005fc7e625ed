"""Hand a dcellx build or batch to other frameworks' code (``pyg``: PyTorch Geometric)."""
