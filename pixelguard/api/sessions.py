"""The UI's server-side sessions: the browser holds an opaque id in an HttpOnly cookie, the tokens stay here.

In memory, per process: a restart logs everyone out, which is the safe failure. Pending logins (state, PKCE
verifier, nonce) are kept apart, single use, and expire after ``LOGIN_TTL_S``.
"""
from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass

LOGIN_TTL_S = 600.0
SESSION_IDLE_S = 1800.0
MAX_PENDING = 10_000  # a flood of /ui/login calls must not grow memory without bound


@dataclass
class PendingLogin:
    state: str
    verifier: str
    nonce: str
    created: float


@dataclass
class Session:
    access_token: str
    refresh_token: str
    id_token: str
    access_expires: float  # epoch seconds, from the token's exp
    last_seen: float


class SessionStore:
    def __init__(self, idle_s: float = SESSION_IDLE_S) -> None:
        self.idle_s = idle_s
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, PendingLogin] = {}
        self._lock = threading.Lock()

    def begin_login(self) -> PendingLogin:
        now = time.time()
        login = PendingLogin(secrets.token_urlsafe(32), secrets.token_urlsafe(64), secrets.token_urlsafe(32), now)
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if now - v.created < LOGIN_TTL_S}
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            self._pending[login.state] = login
        return login

    def take_login(self, state: str) -> PendingLogin | None:
        """The pending login for ``state``, once: a replayed callback finds nothing."""
        with self._lock:
            login = self._pending.pop(state, None)
        if login is None or time.time() - login.created >= LOGIN_TTL_S:
            return None
        return login

    def create(self, session: Session) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[sid] = session
        return sid

    def get(self, sid: str) -> Session | None:
        now = time.time()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_seen > self.idle_s:
                del self._sessions[sid]
                return None
            session.last_seen = now
            return session

    def drop(self, sid: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(sid, None)
