"""App versions and canary rollout.

Each installation has a stable ``bucket`` in 0..99 (a hash of its id, fixed at creation). A
version serves the installations whose bucket is below its rollout percent, and an installation
uses the newest version that serves it. So raising a percent only ever moves installations
forward, onto the version being rolled out, and the same installation always lands on the
same version for the same percentages. At 100 % a version is current; older ones then serve
nobody. An app's first version is current at once: there is nothing to roll out from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.security.outbound import OutboundPolicy, UrlRefused
from marketplace.app_models import AppVersion, Installation
from marketplace.apps import app_by_id
from marketplace.errors import MarketplaceErrorCode
from marketplace.models import Partner
from marketplace.tiers import policy_of

__all__ = [
    "EXTENSION_POINTS",
    "EXTENSION_SCOPES",
    "assigned_version",
    "bucket_of",
    "create_version",
    "parse_semver",
    "set_rollout",
    "version_for_bucket",
]

_SEMVER = re.compile(
    r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
# Each extension point is called only for an app whose tier may hold the point's scope.
EXTENSION_SCOPES = {
    "shipping.rates": "extensions:shipping_rates",
    "goods.recommendations": "extensions:recommendations",
}
EXTENSION_POINTS = tuple(EXTENSION_SCOPES)
STRICT = OutboundPolicy(allow_loopback=False)


def parse_semver(text: str) -> tuple[int, int, int, str] | None:
    found = _SEMVER.match(text)
    if found is None or len(text) > 64:
        return None
    major, minor, patch, pre = found.groups()
    return int(major), int(minor), int(patch), pre or ""


def _order(major: int, minor: int, patch: int, pre: str) -> tuple[int, int, int, int, str]:
    # A pre-release sorts before its release (1.0.0-rc.1 < 1.0.0).
    return (major, minor, patch, 0 if pre else 1, pre)


def bucket_of(installation_id: int) -> int:
    digest = hashlib.sha256(f"agora-install:{installation_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def _manifest_problems(
    manifest: dict[str, Any], outbound: OutboundPolicy, allowed_scopes: frozenset[str]
) -> list[Problem]:
    problems = []

    def bad(
        message: str, *field: str, code: MarketplaceErrorCode = MarketplaceErrorCode.INVALID
    ) -> None:
        problems.append(Problem(code, message, ("manifest", *field)))

    def check(
        url: object, *field: str, code: MarketplaceErrorCode = MarketplaceErrorCode.URL_REFUSED
    ) -> None:
        """Webhook and extension URLs are called by Agora: a refusal says so (URL_REFUSED)."""
        try:
            outbound.check_url(url)  # type: ignore[arg-type]
        except UrlRefused as refused:
            bad(refused.reason, *field, code=code)

    check(manifest.get("app_url"), "appUrl", code=MarketplaceErrorCode.INVALID)
    if manifest.get("webhook_url") is not None:
        check(manifest["webhook_url"], "webhookUrl")
    extensions = manifest.get("extensions") or {}
    if not isinstance(extensions, dict):
        bad("extensions maps an extension point to an https URL.", "extensions")
        return problems
    for point, url in extensions.items():
        if point not in EXTENSION_POINTS:
            bad(f"Extension points are {', '.join(EXTENSION_POINTS)}.", point)
        elif EXTENSION_SCOPES[point] not in allowed_scopes:
            bad(
                f"Only a strategic partner's app may extend {point}.",
                point,
                code=MarketplaceErrorCode.EXTENSION_NOT_ALLOWED,
            )
        else:
            check(url, point)
    return problems


async def create_version(
    session: AsyncSession,
    app_id: int,
    version: str,
    changelog: str,
    manifest: dict[str, Any],
    *,
    outbound: OutboundPolicy = STRICT,
) -> AppVersion:
    """``outbound`` decides which endpoint URLs are acceptable (loopback in dev only); an
    extension needs a tier whose policy allows the extension's core scope (strategic)."""
    app = await app_by_id(session, app_id)
    partner = await session.get(Partner, app.partner_id)
    assert partner is not None
    allowed = frozenset((await policy_of(session, partner.tier)).allowed_scopes)
    parsed = parse_semver(version)
    problems = _manifest_problems(manifest, outbound, allowed)
    if parsed is None:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID_VERSION,
                "Use semantic versioning: 1.4.2.",
                ("version",),
            )
        )
    if len(changelog) > 10_000:
        problems.append(
            Problem(MarketplaceErrorCode.INVALID, "At most 10,000 characters.", ("changelog",))
        )
    existing = list(await session.scalars(select(AppVersion).where(AppVersion.app_id == app_id)))
    if parsed is not None and existing:
        newest = max(existing, key=lambda v: _order(v.major, v.minor, v.patch, v.prerelease))
        if _order(*parsed) <= _order(newest.major, newest.minor, newest.patch, newest.prerelease):
            problems.append(
                Problem(
                    MarketplaceErrorCode.INVALID_VERSION,
                    f"A new version must be above {newest.version}.",
                    ("version",),
                )
            )
    if problems:
        raise DomainError(problems)
    assert parsed is not None
    major, minor, patch, pre = parsed
    row = AppVersion(
        app_id=app_id,
        version=version,
        major=major,
        minor=minor,
        patch=patch,
        prerelease=pre,
        changelog=changelog,
        manifest=manifest,
        rollout_percent=0 if existing else 100,
    )
    session.add(row)
    await session.flush()
    return row


async def set_rollout(session: AsyncSession, version_id: int, percent: int) -> AppVersion:
    if not 0 <= percent <= 100:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID_ROLLOUT, "A rollout is 0 to 100 percent.", "percent"
        )
    row = await session.get(AppVersion, version_id)
    if row is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such version.", "versionId")
    row.rollout_percent = percent
    await session.flush()
    return row


def version_for_bucket(versions: Sequence[AppVersion], bucket: int) -> AppVersion | None:
    """The newest version whose rollout covers ``bucket``."""
    serving = [v for v in versions if bucket < v.rollout_percent]
    return max(serving, key=lambda v: _order(v.major, v.minor, v.patch, v.prerelease), default=None)


async def assigned_version(session: AsyncSession, installation: Installation) -> AppVersion | None:
    versions = list(
        await session.scalars(select(AppVersion).where(AppVersion.app_id == installation.app_id))
    )
    return version_for_bucket(versions, installation.bucket)
