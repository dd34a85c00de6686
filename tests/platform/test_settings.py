"""Settings come from KEFU_* variables only, are all documented, and refuse dangerous values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kefu.settings import ConfigurationError, Settings, is_weak_secret

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(KEFU_[A-Z_]+)`", DOCS.read_text(encoding="utf-8")))
    defined = {f"KEFU_{name.upper()}" for name in Settings.model_fields}
    assert defined - documented == set(), "document these settings in docs/settings.md"
    assert documented - defined == set(), "docs/settings.md names settings that do not exist"


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("KEFU_PORT", "9123")
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    settings = Settings()
    assert settings.port == 9123
    assert settings.db_url == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'kefu.sqlite3'}"
    assert settings.public_url == "http://127.0.0.1:9123"


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path, secret_key=None).secret
    again = Settings(data_dir=tmp_path, secret_key=None).secret
    assert first == again
    assert not is_weak_secret(first)
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("key", ["changeme", "short", "a" * 40])
def test_production_refuses_a_weak_secret(tmp_path: Path, key: str) -> None:
    settings = Settings(data_dir=tmp_path, secret_key=key, env="production")
    with pytest.raises(ConfigurationError, match="too weak"):
        _ = settings.secret


def test_development_accepts_any_secret(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key="dev").secret == "dev"


def test_bad_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="zh_CN or en"):
        Settings(data_dir=tmp_path, default_locale="fr")
    with pytest.raises(ValueError, match="port"):
        Settings(data_dir=tmp_path, port=70000)
