"""Pydantic request and response schemas of the API (ORM models live apart, in ``db/models``)."""
