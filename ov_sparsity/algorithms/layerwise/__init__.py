"""Layer-wise tuning of sparse layers with their masks fixed: Adam (the paper)
or the exact masked least squares (the optimum Adam approaches)."""
