"""The simulator's HTTP routes, one module per area of the Client Portal API, and its own controls."""
