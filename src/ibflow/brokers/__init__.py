"""The Broker protocol with broker-neutral types, and its implementations (paper; IBKR later)."""
