"""Tier policy changes in the domain: what the fuzzer found (bench/fuzz.py)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from app.errors import DomainError
from marketplace.models import Tier, TierPolicy
from marketplace.tiers import TierPolicyChanges, update_policy

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"allowed_scopes": None}, "allowedScopes"),
        ({"rate": None}, "ratePerSecond"),
        ({"cost_restore": None}, "costRestorePerSecond"),
        ({"priority": None}, "sheddingPriority"),
        ({"concurrency": None}, "concurrency"),
    ],
)
async def test_a_null_for_a_field_that_cannot_be_null_is_refused_not_a_crash(
    app: Starlette, change: dict[str, object], field: str
) -> None:
    """tierPolicyUpdate(input: {allowedScopes: null}) was INTERNAL (TypeError on set(None));
    a null rate or concurrency crashed the same way in the bounds checks."""
    db = app.state.services.db
    with pytest.raises(DomainError) as refused:
        async with db.writer() as session, session.begin():
            await update_policy(session, Tier.STANDARD, TierPolicyChanges(**change))  # type: ignore[arg-type]
    assert [problem.field for problem in refused.value.problems] == [("input", field)]
    async with db.reader() as session:
        standard = await session.get(TierPolicy, Tier.STANDARD)
    assert standard is not None and standard.allowed_scopes and standard.rate > 0


async def test_null_daily_calls_still_means_unlimited(app: Starlette) -> None:
    db = app.state.services.db
    async with db.writer() as session, session.begin():
        before = await session.get(TierPolicy, Tier.STRATEGIC)
        assert before is not None
        kept = before.daily_calls
        row = await update_policy(session, Tier.STRATEGIC, TierPolicyChanges(daily_calls=None))
        assert row.daily_calls is None
        row.daily_calls = kept  # leave the shared policy as it was
