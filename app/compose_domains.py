"""The domains' collaborators, built for the composition root (``app/main.py``) and for the
commands that run the domains without the web app (``agora worker``, ``agora jobs``).

Each builder picks the real adapter when it is configured (Stripe, an extension caller) and a
safe stand-in when it is not, so a fresh checkout runs without any outside service.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.limits.policy import StaticPolicy, standard_limits
from app.logistics.rates import RateTableQuoter
from app.security.blind_index import IndexedFieldCipher
from app.security.encryption import FieldCipher
from app.security.oauth.service import GrantHook
from app.security.tokens import TokenService
from app.seed import seed_sandbox
from app.signals import ChangeSignal
from app.trade.payments import PaymentProviders
from app.trade.services import TradeServices
from app.trade.shipping import ShippingQuoter
from app.trade.stripe_payments import StripeProvider, stripe_client
from marketplace.charges import create_activation_charges
from marketplace.collection import ChargeCollector, CollectedOutsideAgora
from marketplace.extension_shipping import ExtendedShippingQuoter
from marketplace.extensions import ExtensionCaller, Extensions
from marketplace.installs import activate_installation
from marketplace.quotas import TierQuotas
from marketplace.services import MarketplaceServices
from marketplace.stripe_collection import StripeCollector
from marketplace.transfers import StripeTransfers

__all__ = ["installation_activator", "marketplace_services", "trade_services"]


def installation_activator(clock: Callable[[], datetime]) -> GrantHook:
    """An app redeeming a code for a shop activates its installation (and opens the charges
    the plan owes), inside the token's own transaction."""

    async def activate(
        session: AsyncSession, client_id: str, shop_id: int, scopes: list[str]
    ) -> None:
        await activate_installation(
            session, client_id, shop_id, clock(), create_activation_charges, scopes
        )

    return activate


def trade_services(
    settings: Settings,
    db: Database,
    cipher: FieldCipher,
    clock: Callable[[], datetime],
    extensions: ExtensionCaller | None = None,
) -> TradeServices:
    """Trade's collaborators: logistics' rate tables quote shipping (adjusted by the shop's
    ``shipping.rates`` extension when there is one), Stripe takes cards when a key is
    configured, and the manual methods are always there."""
    quoter: ShippingQuoter = RateTableQuoter(db.reader)
    if extensions is not None:
        quoter = ExtendedShippingQuoter(quoter, extensions)
    stripe = None
    if settings.stripe_api_key:
        stripe = StripeProvider(
            stripe_client(
                settings.stripe_api_key,
                settings.stripe_api_base,
                timeout=settings.stripe_timeout_seconds,
            )
        )
    return TradeServices(
        db=db,
        quoter=quoter,
        providers=PaymentProviders.build(stripe),
        cipher=IndexedFieldCipher.of(cipher),
        clock=clock,
        payment_timeout=timedelta(seconds=settings.order_payment_timeout_seconds),
    )


def _collector(settings: Settings) -> ChargeCollector:
    """App charges are invoiced through Stripe when it is configured, else settled outside."""
    if not settings.stripe_api_key:
        return CollectedOutsideAgora()
    return StripeCollector(
        stripe_client(
            settings.stripe_api_key,
            settings.stripe_api_base,
            timeout=settings.stripe_timeout_seconds,
        )
    )


def _transfers(settings: Settings) -> StripeTransfers | None:
    """Payouts go through Stripe Connect when Stripe is configured; else they are refused."""
    if not settings.stripe_api_key:
        return None
    return StripeTransfers(
        stripe_client(
            settings.stripe_api_key,
            settings.stripe_api_base,
            timeout=settings.stripe_timeout_seconds,
        )
    )


def marketplace_services(
    settings: Settings,
    db: Database,
    cipher: FieldCipher,
    tokens: TokenService,
    clock: Callable[[], datetime],
    redis: Redis | None,
    extensions: Extensions,
) -> tuple[MarketplaceServices, TierQuotas, ChangeSignal]:
    """The marketplace's collaborators, and the tier quotas limits ask (with the signal that
    tells every worker to drop its cached tiers)."""
    quotas = TierQuotas(db.reader, StaticPolicy(standard_limits(settings)))

    async def tiers_changed() -> None:
        await quotas.invalidate()
        await extensions.invalidate()  # a downgraded partner's extension stops at once

    tier_changes = ChangeSignal(
        tiers_changed, redis, channel=f"{settings.redis_prefix}marketplace:tiers-changed"
    )
    services = MarketplaceServices(
        db=db,
        field_cipher=cipher,
        cipher=IndexedFieldCipher.of(cipher),
        tokens=tokens,
        clock=clock,
        seed_sandbox=seed_sandbox,
        collector=_collector(settings),
        announce_tier_change=tier_changes.announce,
        public_url=settings.public_url,
        credential_grace=timedelta(seconds=settings.app_secret_grace_seconds),
        transfers=_transfers(settings),
    )
    return services, quotas, tier_changes
