"""``agora settle --period``: the month's runs created from a shell, on the suite's database."""

from __future__ import annotations

import anyio.to_thread
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner, Result

from app.cli_settle import settle_cli
from app.config import Settings
from marketplace.settlement_models import RunStatus, SettlementRun
from tests.support.factories import World
from tests.support.ledger import earn, make_earner, moment, next_year, statement_of

pytestmark = pytest.mark.anyio

CURRENCY = "CZK"


async def _run(*args: str) -> Result:
    # Mounted as ``agora settle``, as app/cli.py does; it runs its own event loop.
    agora = typer.Typer()
    agora.add_typer(settle_cli, name="settle")
    return await anyio.to_thread.run_sync(
        lambda: CliRunner().invoke(agora, ["settle", *args], env={"COLUMNS": "160"})
    )


@pytest.fixture
def configured(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGORA_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("AGORA_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("AGORA_SETTLEMENT_TZ", "UTC")


@pytest.mark.usefixtures("configured")
async def test_settle_creates_the_months_runs_once(world: World) -> None:
    # Given a partner that earned 10.00 in a month
    earner = await make_earner(world)
    year = next_year()
    await earn(earner, 1000, CURRENCY, moment(year, 11))

    # When the month is settled from the shell, twice
    first = await _run("--period", f"{year}-11", "--currency", CURRENCY)
    again = await _run("--period", f"{year}-11", "--currency", CURRENCY)

    # Then one draft run holds the partner's statement
    assert first.exit_code == 0, first.output
    assert "created" in first.output and "7.00" in first.output
    assert again.exit_code == 0 and "already there" in again.output
    async with world.services.db.reader() as session:
        runs = list(
            await session.scalars(
                select(SettlementRun).where(
                    SettlementRun.period == f"{year}-11", SettlementRun.currency == CURRENCY
                )
            )
        )
    assert [(run.status, run.created_by.startswith("cli:")) for run in runs] == [
        (RunStatus.DRAFT, True)
    ]
    statement = await statement_of(world, runs[0].id, earner.partner_id)
    assert statement is not None and statement.net_payable == 700


@pytest.mark.usefixtures("configured")
async def test_without_a_currency_every_currency_with_activity_is_settled(world: World) -> None:
    earner = await make_earner(world)
    year = next_year()
    await earn(earner, 1000, CURRENCY, moment(year, 10))
    await earn(earner, 5000, "HUF", moment(year, 10, 20))

    result = await _run("--period", f"{year}-10")

    assert result.exit_code == 0, result.output
    async with world.services.db.reader() as session:
        settled = await session.scalars(
            select(SettlementRun.currency).where(SettlementRun.period == f"{year}-10")
        )
        assert sorted(settled) == [CURRENCY, "HUF"]


@pytest.mark.usefixtures("configured")
async def test_a_bad_period_is_refused() -> None:
    result = await _run("--period", "2031-13", "--currency", CURRENCY)

    assert result.exit_code == 1
    assert "YYYY-MM" in result.output
