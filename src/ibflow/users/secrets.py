"""Tokens for sessions and API clients: random, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_PREFIX = "ibs_"
TOKEN_PREFIX = "ibt_"  # noqa: S105 - a prefix that says what a token is, not a secret


def new_token(prefix: str) -> str:
    """Return a fresh token (256 random bits) with a prefix that says what it is."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Return the hash a token is stored and looked up by (a fast hash is right for 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def csrf_token(session_token: str) -> str:
    """Return the CSRF token of a login session: derived from its secret, so nothing more is stored."""
    return hmac.new(session_token.encode("utf-8"), b"ibflow-csrf", hashlib.sha256).hexdigest()


def same(left: str, right: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))
