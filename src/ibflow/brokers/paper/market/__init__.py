"""ibflow.brokers.paper.market.prices."""
