"""Technical indicators: the catalogue of parameters with validation, and pure functions over bars."""
