"""Reconciliation of ibflow's books against the broker's."""
