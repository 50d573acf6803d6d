"""JSON HTTP API under /api/v1. Not built yet: it arrives with the web app issue."""
