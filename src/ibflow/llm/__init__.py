"""Analysts: signal schema and parsing, prompts, and the providers (rules analyst; LLM providers later)."""
