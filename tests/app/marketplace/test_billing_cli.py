"""``agora billing run --date``: the run as a scheduler starts it, on the suite's database."""

from __future__ import annotations

from datetime import date

import anyio.to_thread
import pytest
from typer.testing import CliRunner, Result

from app.cli_billing import billing_cli
from app.config import Settings
from marketplace.billing_models import ChargeStatus
from marketplace.listing_models import PlanInterval, PlanKind
from tests.support.billing import at, charges_of, make_installation, make_plan
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner

pytestmark = pytest.mark.anyio


async def _run(*args: str) -> Result:
    # The command runs its own event loop, as it does from a shell.
    return await anyio.to_thread.run_sync(lambda: CliRunner().invoke(billing_cli, list(args)))


async def test_billing_run_for_a_date_opens_and_collects_once(
    world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGORA_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("AGORA_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("AGORA_STRIPE_API_KEY", raising=False)
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(
        world, app, PlanKind.RECURRING, amount=300, interval=PlanInterval.MONTH, trial_days=7
    )
    installation = await make_installation(world, app, plan, activated_at=at(date(2018, 4, 1)))

    early = await _run("run", "--date", "2018-04-07")
    assert early.exit_code == 0, early.output
    assert await charges_of(world, installation) == []

    billed = await _run("run", "--date", "2018-04-08")
    assert billed.exit_code == 0, billed.output
    assert "Billing for 2018-04-08:" in billed.output
    [charge] = await charges_of(world, installation)
    assert (charge.period_start, charge.status) == (date(2018, 4, 1), ChargeStatus.COLLECTED)

    again = await _run("run", "--date", "2018-04-08")
    assert again.exit_code == 0, again.output
    assert len(await charges_of(world, installation)) == 1


async def test_a_malformed_date_is_refused() -> None:
    result = await _run("run", "--date", "08/04/2018")
    assert result.exit_code == 2
