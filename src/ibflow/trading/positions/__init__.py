"""Positions and their protection: the book replayed from fills, exits, protective orders, entry expiry."""
