"""Prompt templates: immutable versions, a documented set of variables, sandboxed rendering and validation."""
