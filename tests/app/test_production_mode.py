"""Prod refuses to start with dev keys, a weak secret, or SQLite under several workers, each
with a message that names the fix; `agora serve` exits 2 before any worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.main import create_app
from app.production import ProductionConfigError, production_problems, provision_keys
from app.security.encryption import load_or_create_keyring
from app.security.keys import (
    is_dev_key,
    load_or_create_secret,
    load_or_create_signing_keys,
    rotate_signing_keys,
)

POSTGRES = "postgresql+asyncpg://agora@db.internal:5432/agora"


def _prod(tmp_path: Path, keys: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "prod",
        "var_dir": tmp_path,
        "database_url": POSTGRES,
        "jwt_private_key_path": keys / "jwt-signing.jwk.json",
        "secret_key_path": keys / "secret.key",
        "data_keyring_path": keys / "data-keyring.json",
    }
    return Settings(**{**values, **overrides})  # type: ignore[arg-type]


def _dev_keys(directory: Path) -> Path:
    """The three key files as dev makes them."""
    load_or_create_signing_keys(directory / "jwt-signing.jwk.json")
    load_or_create_secret(directory / "secret.key")
    load_or_create_keyring(directory / "data-keyring.json")
    return directory


def test_dev_has_no_problems(tmp_path: Path) -> None:
    assert production_problems(Settings(var_dir=tmp_path), workers=4) == []


def test_provisioned_keys_on_postgres_with_workers_pass(tmp_path: Path) -> None:
    provision_keys(tmp_path / "prod-keys")
    assert production_problems(_prod(tmp_path, tmp_path / "prod-keys"), workers=4) == []


def test_dev_keys_are_marked_and_refused(tmp_path: Path) -> None:
    keys = _dev_keys(tmp_path / "keys")
    assert all(is_dev_key(path) for path in keys.iterdir())
    problems = production_problems(_prod(tmp_path, keys))
    assert len(problems) == 3
    assert all("is a dev key" in problem for problem in problems)
    assert {p.split(":")[0] for p in problems} == {
        "AGORA_JWT_PRIVATE_KEY_PATH",
        "AGORA_SECRET_KEY_PATH",
        "AGORA_DATA_KEYRING_PATH",
    }


def test_a_rotated_dev_signing_key_is_still_a_dev_key(tmp_path: Path) -> None:
    path = tmp_path / "jwt.json"
    load_or_create_signing_keys(path)
    rotate_signing_keys(path)
    assert is_dev_key(path)
    assert load_or_create_signing_keys(path, create=False).dev


def test_keys_read_from_dev_default_location_are_refused(tmp_path: Path) -> None:
    provision_keys(tmp_path / "keys")  # right files, but only found by dev's default paths
    settings = Settings(environment="prod", var_dir=tmp_path, database_url=POSTGRES)
    problems = production_problems(settings)
    assert len(problems) == 3
    assert all("is not set" in p and "agora keys generate" in p for p in problems)


def test_a_weak_secret_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "prod-keys"
    provision_keys(keys)
    (keys / "secret.key").write_text("00" * 32 + "\n")
    assert production_problems(_prod(tmp_path, keys)) == [
        f"AGORA_SECRET_KEY_PATH: {keys / 'secret.key'} holds a weak or default secret "
        "(need 32 random bytes, as hex)"
    ]


def test_sqlite_with_several_workers_is_refused_in_prod_only(tmp_path: Path) -> None:
    provision_keys(tmp_path / "prod-keys")
    sqlite = f"sqlite+aiosqlite:///{tmp_path}/agora.db"
    settings = _prod(tmp_path, tmp_path / "prod-keys", database_url=sqlite)
    assert production_problems(settings, workers=1) == []
    (problem,) = production_problems(settings, workers=2)
    assert problem.startswith("2 workers on SQLite")
    assert production_problems(settings.model_copy(update={"workers": 3}))  # AGORA_WORKERS
    dev = settings.model_copy(update={"environment": "dev"})
    assert production_problems(dev, workers=2) == []


def test_create_app_refuses_dev_keys_in_prod(tmp_path: Path) -> None:
    keys = _dev_keys(tmp_path / "keys")
    with pytest.raises(ProductionConfigError, match="is a dev key") as refused:
        create_app(_prod(tmp_path, keys))
    assert len(refused.value.problems) == 3


def test_create_app_starts_in_prod_with_provisioned_keys(tmp_path: Path) -> None:
    provision_keys(tmp_path / "prod-keys")
    sqlite = f"sqlite+aiosqlite:///{tmp_path}/agora.db"
    assert create_app(_prod(tmp_path, tmp_path / "prod-keys", database_url=sqlite)) is not None


@pytest.fixture
def prod_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGORA_ENVIRONMENT", "prod")
    monkeypatch.setenv("AGORA_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("AGORA_DATABASE_URL", raising=False)
    monkeypatch.delenv("AGORA_WORKERS", raising=False)
    return tmp_path


def test_serve_refuses_dev_keys_with_exit_2(
    prod_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = _dev_keys(prod_env / "keys")
    for variable, name in (
        ("AGORA_JWT_PRIVATE_KEY_PATH", "jwt-signing.jwk.json"),
        ("AGORA_SECRET_KEY_PATH", "secret.key"),
        ("AGORA_DATA_KEYRING_PATH", "data-keyring.json"),
    ):
        monkeypatch.setenv(variable, str(keys / name))
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    assert "Refusing to start in prod" in result.output
    assert result.output.count("is a dev key") == 3


def test_worker_refuses_dev_keys_with_exit_2(
    prod_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker reads the same keys (the keyring decrypts webhook secrets): same refusal.
    keys = _dev_keys(prod_env / "keys")
    for variable, name in (
        ("AGORA_JWT_PRIVATE_KEY_PATH", "jwt-signing.jwk.json"),
        ("AGORA_SECRET_KEY_PATH", "secret.key"),
        ("AGORA_DATA_KEYRING_PATH", "data-keyring.json"),
    ):
        monkeypatch.setenv(variable, str(keys / name))
    result = CliRunner().invoke(cli, ["worker", "--once"])
    assert result.exit_code == 2
    assert result.output.count("is a dev key") == 3


def test_serve_refuses_sqlite_with_two_workers(
    prod_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generated = CliRunner().invoke(cli, ["keys", "generate", "--dir", str(prod_env / "k")])
    assert generated.exit_code == 0, generated.output
    for line in generated.output.splitlines():
        variable, _, value = line.partition("=")
        monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code == 2
    assert "2 workers on SQLite" in result.output
    assert "is a dev key" not in result.output
