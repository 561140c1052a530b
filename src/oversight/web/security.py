"""Security of the judging app: judge tokens, the admin secret and session, CSRF, headers.

- A judge's link carries a random token; it reaches only that judge's assignments.
- Admin pages need the admin secret: a signed session cookie after signing in, or
  ``Authorization: Bearer SECRET`` for the JSON API (a header browsers never add cross-site).
- Every form carries a CSRF token: an HMAC of a random per-browser cookie (SameSite=Strict) and
  the principal (the judge's token, or ``admin``), checked on every POST.
- Every page is rendered by Jinja2 with autoescaping, under a Content-Security-Policy without
  inline scripts, and with ``Referrer-Policy: no-referrer`` so links never leak a judge's token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

CSRF_COOKIE = "oversight_csrf"
ADMIN_COOKIE = "oversight_admin"
ADMIN_PRINCIPAL = "admin"
SESSION_SECONDS = 12 * 3600
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """Checks the admin secret, admin sessions and CSRF tokens, keyed by the admin secret."""

    def __init__(self, admin_secret: str):
        if len(admin_secret) < 8:
            raise ValueError("the admin secret must have at least 8 characters")
        self._secret = admin_secret
        self._key = hashlib.sha256(b"oversight-web:" + admin_secret.encode()).digest()
        self._sessions = URLSafeTimedSerializer(self._key, salt="admin-session")

    def secret_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._secret.encode())

    def session_cookie(self) -> str:
        return self._sessions.dumps({"sid": new_token()})

    def is_admin(self, request: Request) -> bool:
        """Signed in (a valid session cookie) or presenting the secret as a bearer token."""
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and self.secret_ok(auth.removeprefix("Bearer ")):
            return True
        cookie = request.cookies.get(ADMIN_COOKIE)
        if not cookie:
            return False
        try:
            self._sessions.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return False
        return True

    def csrf_token(self, nonce: str, principal: str) -> str:
        """The token a form of ``principal`` carries in a browser whose cookie is ``nonce``."""
        msg = f"{nonce}:{principal}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request, given: str | None, principal: str) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(nonce, principal))
