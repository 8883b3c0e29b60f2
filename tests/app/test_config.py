"""Every setting an operator can turn is documented, and the environment reaches it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    missing = [
        f"AGORA_{name.upper()}"
        for name in Settings.model_fields
        if f"`AGORA_{name.upper()}`" not in text
    ]
    assert missing == []


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("AGORA_DATABASE_URL", "postgresql+asyncpg://u@db/agora")
    monkeypatch.setenv("AGORA_MAX_BODY_BYTES", "2048")
    settings = Settings()
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.resolved_database_url == "postgresql+asyncpg://u@db/agora"
    assert settings.max_body_bytes == 2048


def test_out_of_range_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_ACCESS_TOKEN_TTL_SECONDS", "86400")
    with pytest.raises(ValueError, match="access_token_ttl_seconds"):
        Settings()
