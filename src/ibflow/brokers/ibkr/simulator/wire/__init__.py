"""IBKR's wire format: the bodies the gateway answers, with the types IBKR uses."""
