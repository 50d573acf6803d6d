"""Who is looking at a page: the API's session cookie, or a trip to the login page and back."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from ibflow.api.auth import Principal, authenticate
from ibflow.core.errors import NotAuthenticated


class LoginRequired(Exception):
    """The page needs a login; ``back`` is where to return after it."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


def page_caller(request: Request) -> Principal:
    """Return the logged-in caller of a page, or raise ``LoginRequired`` (an ended session included)."""
    try:
        return authenticate(request)
    except NotAuthenticated as exc:
        query = f"?{request.url.query}" if request.url.query else ""
        fragment = request.headers.get("HX-Request") == "true"
        back = request.headers.get("HX-Current-URL", "") if fragment else f"{request.url.path}{query}"
        raise LoginRequired(_local(back, request)) from exc


PageCaller = Annotated[Principal, Depends(page_caller)]


def to_login(request: Request, exc: Exception) -> Response:
    """Send the browser to the login page (htmx fragments: with ``HX-Redirect``), to come back afterwards."""
    back = exc.back if isinstance(exc, LoginRequired) else "/"
    target = f"/login?next={quote(back, safe='/')}" if back not in ("", "/") else "/login"
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _local(url: str, request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    path = url[len(base) :] if url.startswith(base) else url
    return safe_next(path)
