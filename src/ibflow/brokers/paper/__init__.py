"""The built-in paper broker on a deterministic simulated market, with its own books (paper_* tables)."""
