"""Security of the judging app: judge tokens, the admin secret and session, CSRF, headers.

- A judge's link carries a random token; it reaches only that judge's assignments.
- Admin pages need the admin secret: a signed session cookie after signing in, or
  ``Authorization: Bearer SECRET`` for the JSON API (a header browsers never add cross-site).
- Every form carries a CSRF token: an HMAC of a random per-browser cookie (SameSite=Strict) and
  the principal (the judge's token, or ``admin``), checked on every POST.
- Every page is rendered by Jinja2 with autoescaping, under a Content-Security-Policy without
  inline scripts, and with ``Referrer-Policy: no-referrer`` so links never leak a judge's token.
- Admin sessions live in the server's memory: signing out revokes the session at once (a copied
  cookie stops working), and a restart signs every admin out. Failed sign-ins are limited per
  client address (:data:`LOGIN_ATTEMPTS` per :data:`LOGIN_WINDOW` seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request

CSRF_COOKIE = "oversight_csrf"
ADMIN_COOKIE = "oversight_admin"
ADMIN_PRINCIPAL = "admin"
SESSION_SECONDS = 12 * 3600
LOGIN_ATTEMPTS = 5
"""Failed sign-ins a client address may make per :data:`LOGIN_WINDOW`."""
LOGIN_WINDOW = 60.0
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
        self._active: set[str] = set()  # session ids signed in and not signed out
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def secret_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self._secret.encode())

    def login_blocked(self, client: str) -> bool:
        """Whether ``client`` made :data:`LOGIN_ATTEMPTS` failed sign-ins in the last window."""
        with self._lock:
            failures = self._failures[client]
            while failures and failures[0] < time.monotonic() - LOGIN_WINDOW:
                failures.popleft()
            return len(failures) >= LOGIN_ATTEMPTS

    def login_failed(self, client: str) -> None:
        with self._lock:
            self._failures[client].append(time.monotonic())

    def session_cookie(self) -> str:
        """A new admin session, as the value of its cookie."""
        sid = new_token()
        with self._lock:
            self._active.add(sid)
        return self._sessions.dumps({"sid": sid})

    def end_session(self, request: Request) -> None:
        """Revoke the request's admin session (its cookie no longer signs anyone in)."""
        sid = self._session_id(request)
        with self._lock:
            self._active.discard(sid or "")

    def _session_id(self, request: Request) -> str | None:
        cookie = request.cookies.get(ADMIN_COOKIE)
        if not cookie:
            return None
        try:
            data = self._sessions.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        return data.get("sid") if isinstance(data, dict) else None

    def is_admin(self, request: Request) -> bool:
        """Signed in (a valid session cookie) or presenting the secret as a bearer token."""
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and self.secret_ok(auth.removeprefix("Bearer ")):
            return True
        sid = self._session_id(request)
        with self._lock:
            return sid is not None and sid in self._active

    def csrf_token(self, nonce: str, principal: str) -> str:
        """The token a form of ``principal`` carries in a browser whose cookie is ``nonce``."""
        msg = f"{nonce}:{principal}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request, given: str | None, principal: str) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE)
        if not nonce or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(nonce, principal))
