"""Celery app and thin tasks for the production runtime (arrive with the production runtime issue)."""
