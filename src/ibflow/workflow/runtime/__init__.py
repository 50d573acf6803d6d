"""ibflow.workflow.runtime."""
