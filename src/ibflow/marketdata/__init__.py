"""Market data: daily bars with a database cache, weekly resampling, symbol search, the contract cache."""
