"""The events outbox: the catalogue of kinds, the writer, the cursor reader and the resumable stream."""
