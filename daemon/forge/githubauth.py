"""Credentials for the GitHub forge: a token, or a GitHub App's installation tokens.

:class:`~daemon.forge.github.GitHub` asks its auth object for an ``Authorization``
value before every request and tells it when GitHub answered 401. A personal access
token (:class:`TokenAuth`) is static, so a 401 is final. An App (:class:`AppAuth`)
signs a short JWT, looks up its installation on the repository, mints an installation
token (valid one hour) and renews it 60 s before it expires or once after a 401
(notes/reliability-security.md §2.3). App tokens are preferred: they rotate and are
scoped to the installation. Secrets live in :class:`~pydantic.SecretStr` or private
attributes and never appear in a repr, a log line or an exception.

This module is the only user of PyJWT and cryptography; it makes no HTTP calls of its
own but goes through the ``send`` function the client passes in (retries included).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol, TypeVar

import jwt
import structlog
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from daemon.errors import ConfigError
from daemon.forge.base import ForgeError
from daemon.settings import GitHubSettings

__all__ = ["AppAuth", "GitHubAuth", "Send", "TokenAuth", "auth_from_settings"]

log = structlog.get_logger("speckitd.forge")
T = TypeVar("T")

# send(method, path, authorization) -> the decoded JSON of a 2xx answer; ForgeError otherwise.
Send = Callable[[str, str, str], object]

# GitHub rejects app JWTs that expire more than ten minutes after they were issued;
# iat is back-dated a minute against clock drift, as GitHub recommends.
JWT_BACKDATE: Final = 60
JWT_LIFETIME: Final = 540
# Renew an installation token this long before GitHub says it expires.
REFRESH_MARGIN: Final = 60.0


class GitHubAuth(Protocol):
    """What the GitHub client needs from a credential."""

    def authorization(self, repo: str, send: Send) -> str:
        """The ``Authorization`` header value for a request about ``repo``."""
        ...

    def invalidate(self, repo: str) -> bool:
        """Forget the credential after a 401; True when asking again may give a fresh one."""
        ...


@dataclass(frozen=True, slots=True)
class TokenAuth:
    """A personal access token (classic or fine-grained)."""

    token: SecretStr

    def authorization(self, repo: str, send: Send) -> str:
        """The token as a bearer credential."""
        return f"Bearer {self.token.get_secret_value()}"

    def invalidate(self, repo: str) -> bool:
        """A static token cannot be renewed: a 401 is final."""
        return False


class AppAuth:
    """A GitHub App: installation tokens per repository, cached and renewed.

    ``private_key`` is the App's PEM private key (RSA). Tokens are cached per
    installation; the installation of each repository is looked up once.
    """

    def __init__(
        self, app_id: int, private_key: SecretStr, clock: Callable[[], float] = time.time
    ) -> None:
        self.app_id = app_id
        self._key = _load_key(private_key)
        self._clock = clock
        # One lock: two jobs needing a token at once mint it once.
        self._lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, tuple[SecretStr, float]] = {}

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self.app_id})"

    def app_jwt(self) -> str:
        """A freshly signed app JWT (RS256, valid ten minutes around now)."""
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE, "exp": now + JWT_LIFETIME, "iss": str(self.app_id)}
        return jwt.encode(claims, self._key, algorithm="RS256")

    def authorization(self, repo: str, send: Send) -> str:
        """An installation token for ``repo``, minted or renewed when needed."""
        key = repo.lower()
        with self._lock:
            installation = self._installations.get(key)
            if installation is None:
                found = send("GET", f"/repos/{repo}/installation", f"Bearer {self.app_jwt()}")
                installation = _field(found, "id", int)
                self._installations[key] = installation
            cached = self._tokens.get(installation)
            if cached is None or self._clock() >= cached[1] - REFRESH_MARGIN:
                cached = self._mint(installation, send)
                self._tokens[installation] = cached
            return f"Bearer {cached[0].get_secret_value()}"

    def invalidate(self, repo: str) -> bool:
        """Drop the repository's token (and installation, in case the App was reinstalled)."""
        with self._lock:
            installation = self._installations.pop(repo.lower(), None)
            if installation is None:
                return False
            self._tokens.pop(installation, None)
            return True

    def _mint(self, installation: int, send: Send) -> tuple[SecretStr, float]:
        path = f"/app/installations/{installation}/access_tokens"
        answer = send("POST", path, f"Bearer {self.app_jwt()}")
        token = _field(answer, "token", str)
        expires_at = _field(answer, "expires_at", str)
        try:
            expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ForgeError(f"GitHub {path}: expires_at is not a time") from None
        log.info("github.token_minted", installation=installation, expires_at=expires_at)
        return SecretStr(token), expires


def auth_from_settings(
    settings: GitHubSettings,
    *,
    read_key: Callable[[str], str] | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenAuth | AppAuth:
    """The credential ``[forge.github]`` configures: the App when set up, else the token.

    ``read_key(path)`` returns the PEM text (default: read the file). Raises
    :class:`~daemon.errors.ConfigError` when neither is configured or the key is unusable.
    """
    if settings.app_id and settings.private_key_path:
        path = settings.private_key_path
        try:
            pem = (read_key or _read_file)(path)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise ConfigError(f"{path}: cannot read the GitHub App private key: {reason}") from None
        return AppAuth(settings.app_id, SecretStr(pem), clock)
    if settings.token.get_secret_value():
        return TokenAuth(settings.token)
    raise ConfigError("forge.github: needs token, or app_id and private_key_path")


def _read_file(path: str) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _load_key(private_key: SecretStr) -> rsa.RSAPrivateKey:
    """The RSA key in the PEM text; ConfigError (not naming the key) otherwise."""
    try:
        key = serialization.load_pem_private_key(
            private_key.get_secret_value().encode(), password=None
        )
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError("GitHub App private key: not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("GitHub App private key: not an RSA key (GitHub signs with RS256)")
    return key


def _field(data: object, name: str, kind: type[T]) -> T:
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ForgeError(f"GitHub: unexpected answer without {name!r}")
    return value
