"""Process settings, read from environment variables only (``KEFU_*``).

Every field here is documented in ``docs/settings.md``; a test fails when one is not.
Settings that an admin edits at run time (workspace name, business hours…) live in the
database instead, in the feature that owns them.
"""

from __future__ import annotations

import os
import secrets
import stat
from email.utils import parseaddr
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_KEY_FILE = "secret_key"  # noqa: S105  # a file name
_WEAK_SECRETS = {"secret", "changeme", "change-me", "password", "kefu", "default", "development", "dev"}
MIN_SECRET_LENGTH = 32


class ConfigurationError(RuntimeError):
    """The process cannot start with these settings; the message says what to change."""


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class SmtpSecurity(StrEnum):
    none = "none"  # plain SMTP (a relay on this machine or a trusted network)
    starttls = "starttls"  # plain connection upgraded with STARTTLS; refused if the server lacks it
    tls = "tls"  # TLS from the first byte (usually port 465)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEFU_", extra="ignore", frozen=True)

    env: Environment = Field(
        Environment.development, description="`development` or `production` (stricter checks)."
    )
    data_dir: Path = Field(
        Path("./kefu-data"), description="Directory for the SQLite database, files, secret."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in the data dir. PostgreSQL: postgresql+asyncpg://…"
    )
    redis_url: str | None = Field(
        None, description="Redis URL for cross-node events and job wake-ups; unset means in-process."
    )
    redis_prefix: str = Field("kefu", description="Prefix of every Redis key and channel kefu uses.")
    secret_key: str | None = Field(
        None,
        description="Signs CSRF tokens and flash cookies; generated into the data dir when unset.",
    )
    host: str = Field("127.0.0.1", description="Address `kefu serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `kefu serve` listens on.")
    base_url: str | None = Field(
        None, description="Public URL users reach kefu at; default http://host:port."
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies trusted for X-Forwarded-For/Proto (comma list or *)."
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_format: LogFormat = Field(LogFormat.text, description="`text` or `json` (one object per line).")
    default_locale: str = Field("zh_CN", description="UI language when neither user nor browser chose one.")
    run_jobs: bool = Field(
        True, description="Run background jobs inside `kefu serve` (set false with `kefu worker`)."
    )
    job_concurrency: int = Field(4, ge=1, le=64, description="Jobs run at once by one process.")
    job_poll_seconds: float = Field(2.0, gt=0, description="Idle poll interval of the job runner.")
    session_ttl_hours: int = Field(24 * 14, ge=1, description="Lifetime of a browser login session.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins (per account and per IP) before lockout."
    )
    login_lockout_seconds: int = Field(900, ge=1, description="Length of the temporary login lockout.")
    max_request_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    db_pool_size: int = Field(10, ge=1, description="Connections per process to PostgreSQL.")
    smtp_host: str | None = Field(None, description="SMTP server for outgoing mail; unset means no mail.")
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_username: str | None = Field(None, description="SMTP login (only over starttls or tls).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_security: SmtpSecurity = Field(SmtpSecurity.none, description="`none`, `starttls` or `tls`.")
    smtp_timeout: float = Field(30.0, gt=0, le=600, description="Seconds to wait for the SMTP server.")
    mail_from: str | None = Field(
        None, description="Sender of outgoing mail, e.g. `kefu <support@example.com>`."
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in {"zh_CN", "en"}:
            raise ValueError("KEFU_DEFAULT_LOCALE must be zh_CN or en")
        return value

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, address = parseaddr(value)
        if not address or any(ch in value for ch in "\r\n"):
            raise ValueError("KEFU_MAIL_FROM must look like: kefu <support@example.com>")
        try:
            validate_email(address, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError as exc:
            raise ValueError(f"KEFU_MAIL_FROM: {exc}") from None
        return value.strip()

    @model_validator(mode="after")
    def _mail_complete(self) -> Settings:
        # ConfigurationError, not ValueError: pydantic would print every input, the password too.
        if self.smtp_host is not None and self.mail_from is None:
            raise ConfigurationError("KEFU_MAIL_FROM is required when KEFU_SMTP_HOST is set.")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ConfigurationError("Set both KEFU_SMTP_USERNAME and KEFU_SMTP_PASSWORD, or neither.")
        if self.smtp_username is not None and self.smtp_security is SmtpSecurity.none:
            raise ConfigurationError(
                "KEFU_SMTP_USERNAME needs KEFU_SMTP_SECURITY=starttls or tls: passwords never go in clear."
            )
        return self

    @property
    def mail_enabled(self) -> bool:
        """Outgoing mail is set up (``KEFU_SMTP_HOST``)."""
        return self.smtp_host is not None

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'kefu.sqlite3'}"

    @property
    def broker_url(self) -> str:
        return self.redis_url or "memory://"

    @property
    def public_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def https(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def production(self) -> bool:
        return self.env is Environment.production

    @cached_property
    def secret(self) -> str:
        """The signing secret: from the environment, else from (or generated into) the data dir."""
        if self.secret_key is not None:
            key = self.secret_key
        else:
            key = _load_or_create_secret(self.data_dir / SECRET_KEY_FILE)
        if self.production and is_weak_secret(key):
            raise ConfigurationError(
                f"KEFU_SECRET_KEY is too weak for production: use at least {MIN_SECRET_LENGTH} random "
                "characters, e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return key

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)


def is_weak_secret(key: str) -> bool:
    return len(key) < MIN_SECRET_LENGTH or key.lower() in _WEAK_SECRETS or len(set(key)) < 10


def _load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Written aside, then hard-linked into place: when two processes start at once exactly one
    # key wins, and nobody ever reads a half-written file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink()
    return key


def load_settings() -> Settings:
    return Settings()
