"""Partners and tiers through HTTP: registering, members, tier applications and changes with
their history, and the tier policy community admins keep."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.security.audit import AuditEvent
from marketplace.models import Tier, TierPolicy
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.marketplace import make_partner

pytestmark = pytest.mark.anyio

REGISTER = 'mutation { partnerRegister(input: {name: "Acme Apps", contactEmail: "Sales@Acme.example", website: "https://acme.example"}) { partner { id name tier contactEmail } errors { field code } } }'
PARTNER = "query($p: ID!) { partner(partnerId: $p) { tier contactEmail tierHistory { from to reason actor } } }"
SUBMIT = "mutation($p: ID!, $t: PartnerTier!, $e: String!) { tierApplicationSubmit(partnerId: $p, targetTier: $t, evidence: $e) { application { id status } errors { field code } } }"
REVIEW = 'mutation($id: ID!, $d: ReviewDecision!) { tierApplicationReview(id: $id, decision: $d, notes: "Checked") { application { status } errors { field code } } }'
EVIDENCE = "Two hundred merchants run our app every day."


async def _admin(world: World) -> str:
    return (await world.user("community_admin", domain="platform"))[1]


async def test_the_registrant_owns_the_partner(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user()
    made = (await gql(REGISTER, token=token)).ok()["partnerRegister"]
    assert made["errors"] == [] and made["partner"]["tier"] == "STANDARD"
    assert made["partner"]["contactEmail"] == "sales@acme.example"
    mine = (await gql(PARTNER, {"p": made["partner"]["id"]}, token=token)).ok()["partner"]
    assert mine["tierHistory"] == [
        {
            "from": None,
            "to": "STANDARD",
            "reason": "Registered",
            "actor": mine["tierHistory"][0]["actor"],
        }
    ]
    _, stranger = await world.user()
    refused = await gql(PARTNER, {"p": made["partner"]["id"]}, token=stranger)
    assert refused.codes == ["FORBIDDEN"]
    anonymous = await gql(REGISTER)
    assert anonymous.codes == ["FORBIDDEN"]


async def test_an_approved_application_changes_the_tier_once(
    world: World, gql: GraphQLClient
) -> None:
    partner, owner = await make_partner(world)
    p = gid("Partner", partner)
    too_short = (await gql(SUBMIT, {"p": p, "t": "ADVANCED", "e": "pls"}, token=owner)).ok()
    assert too_short["tierApplicationSubmit"]["errors"] == [
        {"field": ["evidence"], "code": "INVALID"}
    ]
    submitted = (await gql(SUBMIT, {"p": p, "t": "ADVANCED", "e": EVIDENCE}, token=owner)).ok()
    application = submitted["tierApplicationSubmit"]["application"]
    assert application["status"] == "PENDING"
    second = (await gql(SUBMIT, {"p": p, "t": "STRATEGIC", "e": EVIDENCE}, token=owner)).ok()
    assert second["tierApplicationSubmit"]["errors"][0]["code"] == "DUPLICATE"

    admin = await _admin(world)
    approved = (await gql(REVIEW, {"id": application["id"], "d": "APPROVE"}, token=admin)).ok()
    assert approved["tierApplicationReview"] == {
        "application": {"status": "APPROVED"},
        "errors": [],
    }
    again = (await gql(REVIEW, {"id": application["id"], "d": "REJECT"}, token=admin)).ok()
    assert again["tierApplicationReview"]["errors"] == [
        {"field": ["id"], "code": "ALREADY_DECIDED"}
    ]

    history = (await gql(PARTNER, {"p": p}, token=owner)).ok()["partner"]["tierHistory"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "STANDARD"), ("STANDARD", "ADVANCED")]
    assert history[-1]["reason"].startswith("Application")


async def test_a_tier_change_is_recorded_with_its_reason_and_audited(
    world: World, gql: GraphQLClient
) -> None:
    partner, owner = await make_partner(world)
    admin = await _admin(world)
    change = 'mutation($p: ID!) { partnerTierChange(partnerId: $p, tier: STRATEGIC, reason: "Co-building checkout") { partner { tier } errors { code } } }'
    result = await gql(
        change,
        {"p": gid("Partner", partner)},
        token=admin,
        headers={"x-request-id": "tier-change-1"},
    )
    assert result.ok()["partnerTierChange"]["partner"]["tier"] == "STRATEGIC"
    history = (await gql(PARTNER, {"p": gid("Partner", partner)}, token=owner)).ok()["partner"][
        "tierHistory"
    ]
    assert history[-1]["to"] == "STRATEGIC" and history[-1]["reason"] == "Co-building checkout"
    async with world.services.db.reader() as session:
        audited = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.request_id == "tier-change-1")
            )
        )
    assert [(a.action, a.domain) for a in audited] == [("partnerTierChange", "platform")]
    assert audited[0].before["tier"] == "standard" and audited[0].after["tier"] == "strategic"


async def test_members_are_added_and_removed_by_the_owner(world: World, gql: GraphQLClient) -> None:
    partner, owner = await make_partner(world)
    user, user_token = await world.user()
    p, u = gid("Partner", partner), gid("User", user)
    add = "mutation($p: ID!, $u: ID!) { partnerMemberAdd(partnerId: $p, userId: $u, role: DEVELOPER) { ok errors { code } } }"
    remove = "mutation($p: ID!, $u: ID!) { partnerMemberRemove(partnerId: $p, userId: $u, role: DEVELOPER) { ok errors { code } } }"
    assert (await gql(add, {"p": p, "u": u}, token=owner)).ok()["partnerMemberAdd"]["ok"] is True
    assert (await gql(PARTNER, {"p": p}, token=user_token)).ok()["partner"][
        "contactEmail"
    ] == "partners@example.com"
    assert (await gql(add, {"p": p, "u": u}, token=owner)).ok()["partnerMemberAdd"]["errors"] == [
        {"code": "DUPLICATE"}
    ]
    assert (await gql(remove, {"p": p, "u": u}, token=owner)).ok()["partnerMemberRemove"][
        "ok"
    ] is True
    assert (await gql(PARTNER, {"p": p}, token=user_token)).codes == ["FORBIDDEN"]


async def test_tier_policy_is_public_and_changed_by_admins_within_bounds(
    world: World, gql: GraphQLClient
) -> None:
    tiers = (
        await gql("{ tierPolicies { tier burst dailyCalls maxApps shareBps allowedScopes } }")
    ).ok()["tierPolicies"]
    assert [
        (t["tier"], t["burst"], t["dailyCalls"], t["maxApps"], t["shareBps"]) for t in tiers
    ] == [
        ("STANDARD", 20, 50_000, 3, 7_000),
        ("ADVANCED", 100, 500_000, 10, 8_000),
        ("STRATEGIC", 400, None, None, 8_500),
    ]
    assert "extensions:shipping_rates" in tiers[2]["allowedScopes"]
    assert "extensions:shipping_rates" not in tiers[0]["allowedScopes"]

    update = "mutation($i: TierPolicyInput!) { tierPolicyUpdate(tier: STANDARD, input: $i) { tierPolicy { shareBps } errors { field code } } }"
    admin = await _admin(world)
    bad = (await gql(update, {"i": {"shareBps": 12_000, "burst": 0}}, token=admin)).ok()[
        "tierPolicyUpdate"
    ]
    assert {tuple(e["field"]) for e in bad["errors"]} == {("input", "shareBps"), ("input", "burst")}
    async with world.services.db.reader() as session:
        standard = await session.get(TierPolicy, Tier.STANDARD)
    assert standard is not None and standard.share_bps == 7_000
    _, ops = await world.user("ops", domain="platform")
    assert (await gql(update, {"i": {"shareBps": 7_100}}, token=ops)).codes == ["FORBIDDEN"]
