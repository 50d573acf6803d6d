"""Server-rendered pages: Jinja2 templates, htmx fragments and a little vanilla JS, served beside the API.

``site.mount_site(app)`` adds the pages, their fragments and the static files to the API's app. Pages read
through the same queries as the API (``workflow.queries``); every write a page makes is a call to the API
itself from ``static/app.js`` (JSON, the session cookie and the CSRF header), so the API's role checks,
validation and audit apply unchanged. See docs/web.md.
"""
