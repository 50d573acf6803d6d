"""Notifications: the events outbox to apprise targets (global or a user's), at least once."""
