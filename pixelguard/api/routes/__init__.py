"""One module per resource: ``jobs`` and ``profiles`` (review and outputs come in later slices)."""
