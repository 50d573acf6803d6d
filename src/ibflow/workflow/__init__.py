"""Orchestration: the execution steps, lineage, the scheduler and the runners."""
