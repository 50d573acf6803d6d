"""The order lifecycle: our client ids, submission, sending, cancels, tracking and fills."""
