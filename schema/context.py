"""The per-request context: who is calling, for which shop, and the services to call with.

``Services`` is the port the GraphQL adapter needs; ``app/main.py`` builds it once and every
request's context shares it. Only per-request state (the caller, the shop, the loaders, the
caller's role assignments) lives on ``AgoraContext``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from app.broadcast import Broadcast
from app.config import Settings
from app.db import Database
from app.events.services import EventServices
from app.identity.models import Shop
from app.identity.passwords import PasswordHashing
from app.limits.buckets import BucketStore
from app.limits.policy import PolicyLookup
from app.security.encryption import FieldCipher
from app.security.oauth.roles import granted_roles
from app.security.principal import Principal
from app.security.rbac import Authorizer, RoleAssignment, roles_of, shop_domain
from app.security.tokens import TokenService
from app.sharedstate import SharedState
from app.signals import ChangeSignal
from app.trade.services import TradeServices
from marketplace.extensions import Extensions
from marketplace.services import MarketplaceServices
from schema.errors import ApiErrorCode, api_error
from schema.loaders import Loaders
from schema.pagination import CursorCodec
from schema.shops import ShopDirectory
from schema.trade.ids import CartIds

__all__ = ["OTHER_SHOP_PROBLEM", "AgoraContext", "Services"]

OTHER_SHOP_PROBLEM = "This token is for another shop."


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    tokens: TokenService
    authorizer: Authorizer
    passwords: PasswordHashing
    cursors: CursorCodec
    clock: Callable[[], datetime]
    shared: SharedState
    cipher: FieldCipher
    buckets: BucketStore
    shops: ShopDirectory
    override_changes: ChangeSignal
    trade: TradeServices
    cart_ids: CartIds
    broadcast: Broadcast
    marketplace: MarketplaceServices
    rate_policy: PolicyLookup
    events: EventServices
    extensions: Extensions


@dataclass
class AgoraContext:
    services: Services
    request: Request
    response: Response | None
    request_id: str
    principal: Principal | None
    shop: Shop | None
    shop_problem: str | None = None
    # The partner a partner-domain field acts for, as its permission check found it.
    partner_id: int | None = None
    # A websocket's connection_init payload (subscriptions authenticate there).
    connection_params: dict[str, object] | None = None
    _assignments: asyncio.Future[list[RoleAssignment]] | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        return self.services.db

    def require_shop(self) -> Shop:
        """The request's shop, or a SHOP_REQUIRED / NOT_FOUND error the client can act on."""
        if self.shop is None:
            code = ApiErrorCode.NOT_FOUND if self.shop_problem else ApiErrorCode.SHOP_REQUIRED
            if self.shop_problem == OTHER_SHOP_PROBLEM:
                code = ApiErrorCode.FORBIDDEN
            raise api_error(
                code, self.shop_problem or "Name the shop with the X-Agora-Shop header."
            )
        return self.shop

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.db.reader, self.require_shop().id)
        return self._loaders

    async def assignments(self) -> list[RoleAssignment]:
        """The caller's role assignments, read once per request (one statement)."""
        if self.principal is None:
            return []
        if self.principal.subject.startswith("app:"):
            return granted_roles(self.principal.scope, self.principal.shop_id)
        if self._assignments is None:
            self._assignments = asyncio.ensure_future(
                self._read_assignments(self.principal.subject)
            )
        return await self._assignments

    async def _read_assignments(self, subject: str) -> list[RoleAssignment]:
        async with self.db.reader() as session:
            return await roles_of(session, subject)

    async def allows(self, obj: str, act: str, domain: str | None = None) -> bool:
        if self.principal is None:
            return False
        domain = domain or shop_domain(self.require_shop().id)
        return self.services.authorizer.allows(await self.assignments(), domain, obj, act)

    def now(self) -> datetime:
        return self.services.clock()
