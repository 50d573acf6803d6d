"""The production runtime on Celery: the app (``app``), thin tasks (``work``), the runner and launchers."""
