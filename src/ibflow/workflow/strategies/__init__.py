"""ibflow.workflow.strategies.lookup."""
