"""Broker protocol placeholder; written with the paper broker."""
