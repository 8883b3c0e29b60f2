"""The `agora` command, as an operator bootstrapping a fresh install would use it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db import Database
from app.identity.service import user_by_email
from app.security.blind_index import IndexedFieldCipher
from app.security.encryption import load_or_create_keyring
from app.security.rbac import roles_of


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AGORA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("AGORA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("AGORA_PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("AGORA_PASSWORD_HASH_MEMORY_KIB", "8")
    return Settings()


async def _roles(settings: Settings, email: str) -> list[tuple[str, str]]:
    db = Database.connect(settings)
    try:
        async with db.reader() as session:
            keyring = load_or_create_keyring(settings.resolved_data_keyring_path, create=False)
            user = await user_by_email(session, IndexedFieldCipher.of(keyring), email)
            assert user is not None
            return [(a.role, a.domain) for a in await roles_of(session, f"user:{user.id}")]
    finally:
        await db.dispose()


def test_migrate_then_create_staff(env: Settings) -> None:
    runner = CliRunner()
    migrated = runner.invoke(cli, ["migrate"])
    assert migrated.exit_code == 0, migrated.output
    assert "policy rules added" in migrated.output

    created = runner.invoke(
        cli,
        ["user", "create", "--email", "Ops@Example.com", "--role", "ops", "--domain", "platform"],
        input="a long enough password\na long enough password\n",
    )
    assert created.exit_code == 0, created.output
    granted = runner.invoke(
        cli,
        [
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--role",
            "finance",
            "--domain",
            "platform",
            "--password",
            "ignored for existing users",
        ],
    )
    assert granted.exit_code == 0, granted.output
    assert sorted(asyncio.run(_roles(env, "ops@example.com"))) == [
        ("finance", "platform"),
        ("ops", "platform"),
    ]

    refused = runner.invoke(
        cli,
        [
            "user",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "ops",
            "--domain",
            "shop:1",
            "--password",
            "a long enough password",
        ],
    )
    assert refused.exit_code == 2
    assert "platform" in refused.output


def test_schema_export_writes_the_committed_schema(env: Settings, tmp_path: Path) -> None:
    target = tmp_path / "schema.graphql"
    result = CliRunner().invoke(cli, ["schema", "export", "--output", str(target)])
    assert result.exit_code == 0, result.output
    committed = Path(__file__).resolve().parents[2] / "schema.graphql"
    assert target.read_text() == committed.read_text()


def test_client_create_prints_credentials_it_keeps_no_readable_copy_of(env: Settings) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    result = runner.invoke(
        cli, ["client", "create", "--name", "Shipping App", "--scope", "goods:read"]
    )
    assert result.exit_code == 0, result.output
    issued = dict(line.split(maxsplit=1) for line in result.output.strip().splitlines())
    assert issued["client_id"].startswith("agc_")

    async def stored() -> tuple[str, str, list[str]]:
        from app.security.clients import OAuthClient

        db = Database.connect(env)
        try:
            async with db.reader() as session:
                client = await session.scalar(select(OAuthClient))
                assert client is not None
                return client.secret_hash, client.signing_secret, client.scopes
        finally:
            await db.dispose()

    secret_hash, signing, scopes = asyncio.run(stored())
    assert issued["client_secret"] not in secret_hash
    assert issued["signing_secret"] not in signing and signing.startswith("v1.")
    assert scopes == ["goods:read"]
