"""Analyst implementations, chosen by bootstrap only."""
