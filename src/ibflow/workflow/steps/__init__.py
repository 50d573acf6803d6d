"""ibflow.workflow.steps."""
