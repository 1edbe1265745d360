"""Alembic migrations of the state store, shipped with the package and run on open."""
