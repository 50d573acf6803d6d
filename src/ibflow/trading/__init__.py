"""Trading core: risk and sizing, idempotent orders, tracking, positions and exits, portfolio, kill switch."""
