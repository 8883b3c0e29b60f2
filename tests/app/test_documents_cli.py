"""`agora documents register`: a frontend's build registers its documents by SHA-256; an
invalid document registers nothing, and registering again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.security.trusted_documents import document_hash, parse_document_id


@pytest.fixture
def migrated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AGORA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("AGORA_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/docs.db")
    result = CliRunner().invoke(cli, ["migrate"])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_register_list_and_refuse_invalid(migrated_env: Path) -> None:
    products = migrated_env / "products.graphql"
    products.write_text("query Products { products(first: 5) { nodes { title } } }\n")
    shop = migrated_env / "shop.graphql"
    shop.write_text("query Shop { shop { name } }\n")
    runner = CliRunner()

    first = runner.invoke(cli, ["documents", "register", str(products), "--client", "web"])
    assert first.exit_code == 0, first.output
    expected = f"sha256:{document_hash(products.read_text())}"
    assert first.output.split() == [expected, str(products), "registered"]

    again = runner.invoke(
        cli, ["documents", "register", str(products), str(shop), "--client", "web"]
    )
    assert again.exit_code == 0, again.output
    assert [line.split()[-1] for line in again.output.splitlines()] == ["known", "registered"]

    broken = migrated_env / "broken.graphql"
    broken.write_text("query Broken { shop { nope } }\n")
    refused = runner.invoke(
        cli, ["documents", "register", str(broken), "--client", "web"], catch_exceptions=False
    )
    assert refused.exit_code == 2
    assert "nope" in refused.output and "Nothing registered" in refused.output

    listed = runner.invoke(cli, ["documents", "list", "--client", "web"])
    assert listed.exit_code == 0, listed.output
    ids = [line.split()[0] for line in listed.output.splitlines()]
    assert len(ids) == 2 and expected in ids
    assert all(parse_document_id(i) for i in ids)
    assert runner.invoke(cli, ["documents", "list", "--client", "other"]).output == ""
