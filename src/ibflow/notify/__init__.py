"""Events outbox readers, notifications and the live event stream (arrive with the web app)."""
