"""Persistence: base with naming convention, exact column types, engine and sessions, models, migrations."""
