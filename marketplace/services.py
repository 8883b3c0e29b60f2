"""Everything the marketplace's flows need from outside, handed in once by ``app/main.py``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.contact import PersonalDataCipher
from app.db import Database
from app.security.encryption import FieldCipher
from app.security.tokens import TokenService
from marketplace.apps import SandboxSeeder
from marketplace.collection import ChargeCollector
from marketplace.transfers import TransferGateway

__all__ = ["MarketplaceServices"]


@dataclass(frozen=True)
class MarketplaceServices:
    db: Database
    field_cipher: FieldCipher
    cipher: PersonalDataCipher
    tokens: TokenService
    clock: Callable[[], datetime]
    seed_sandbox: SandboxSeeder
    collector: ChargeCollector
    # Tell every worker that tiers or tier policy changed (after the commit).
    announce_tier_change: Callable[[], Awaitable[None]]
    public_url: str
    credential_grace: timedelta
    # Stripe Connect for payouts; None when Stripe is not configured (payouts are refused).
    transfers: TransferGateway | None = None
