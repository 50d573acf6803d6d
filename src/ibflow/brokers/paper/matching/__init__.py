"""ibflow.brokers.paper.matching.fills."""
