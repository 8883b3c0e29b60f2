"""Identity API: the shop, the caller (``me``), sign-up and tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.identity import models, personal, service, sessions
from app.identity.errors import IdentityErrorCode
from app.security.blind_index import IndexedFieldCipher
from app.security.masking import MaskKind
from app.security.principal import Principal
from app.security.rbac import assign_role, shop_domain
from app.trade import cart_details, carts
from schema.errors import ApiErrorCode, UserError, api_error, user_errors
from schema.node import Node, encode_id
from schema.pagination import Connection
from schema.personal_data import personal_field
from schema.trade.cart_types import Cart
from schema.trade.carts import cart_view
from schema.trade.order_types import Order
from schema.trade.orders import order_connection
from schema.transactions import write

__all__ = ["IdentityMutation", "IdentityQuery", "Shop", "User"]

IdentityErrorCodeEnum = strawberry.enum(IdentityErrorCode, name="IdentityErrorCode")


@strawberry.type
class IdentityError(UserError):
    code: IdentityErrorCodeEnum  # type: ignore[valid-type]


def _errors(error: DomainError | None) -> list[IdentityError]:
    return [] if error is None else user_errors(error, IdentityError, IdentityErrorCodeEnum)


def personal_cipher(info: Info) -> IndexedFieldCipher:
    """Identity's ``PersonalDataCipher`` port, over the app's data keyring."""
    return IndexedFieldCipher.of(info.context.services.cipher)


@strawberry.type
class Shop(Node):
    handle: str
    name: str
    currency_code: str

    @classmethod
    def of(cls, row: models.Shop) -> Shop:
        return cls(
            id=encode_id("Shop", row.id),
            handle=row.handle,
            name=row.name,
            currency_code=row.currency,
        )


@strawberry.type
class RoleAssignment:
    role: str
    domain: str


@strawberry.type
class User(Node):
    name: str
    created_at: datetime
    row: strawberry.Private[models.User]
    # Set where the operation itself proved the caller is this user (logging in, refreshing).
    caller_is_user: strawberry.Private[bool] = False

    @classmethod
    def of(cls, row: models.User, *, caller_is_user: bool = False) -> User:
        return cls(
            id=encode_id("User", row.id),
            name=row.name,
            created_at=row.created_at,
            row=row,
            caller_is_user=caller_is_user,
        )

    def owned_by(self, principal: Principal | None) -> bool:
        return self.caller_is_user or (principal is not None and principal.user_id == self.row.id)

    @personal_field(MaskKind.EMAIL)
    def email(self, info: Info) -> str:
        return personal.email_of(self.row, personal_cipher(info))

    @personal_field(MaskKind.PHONE)
    def phone(self, info: Info) -> str | None:
        return personal.phone_of(self.row, personal_cipher(info))

    @strawberry.field(description="The caller's open cart in this shop, if they have one.")
    async def cart(self, info: Info) -> Cart | None:
        if not self.owned_by(info.context.principal):
            return None
        shop = info.context.require_shop()
        async with info.context.db.reader() as session:
            row = await carts.latest_open_cart(session, shop.id, self.row.id)
        return await cart_view(info, row.id) if row else None

    @strawberry.field(description="The caller's own orders in this shop, newest first.")
    async def orders(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Order]:
        if not self.owned_by(info.context.principal):
            raise api_error(ApiErrorCode.FORBIDDEN, "Only the shopper sees their orders.")
        return await order_connection(
            info, None, first=first, after=after, last=last, before=before, user_id=self.row.id
        )

    @strawberry.field(description="The caller's roles and the domains they hold them in.")
    async def roles(self, info: Info) -> list[RoleAssignment]:
        return [
            RoleAssignment(role=a.role, domain=a.domain) for a in await info.context.assignments()
        ]


@strawberry.type
class CustomerRegisterPayload:
    user: User | None
    errors: list[IdentityError]


@strawberry.type
class TokenPayload:
    access_token: str | None
    refresh_token: str | None
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int | None = strawberry.field(description="Seconds until the access token expires.")
    user: User | None
    cart: Cart | None = strawberry.field(
        default=None,
        description="tokenCreate with cartId: the shopper's cart, the anonymous one merged in.",
    )
    errors: list[IdentityError]


@strawberry.type
class TokenRevokePayload:
    revoked: bool
    errors: list[IdentityError]


@strawberry.input
class CustomerRegisterInput:
    email: str
    password: str
    name: str = ""
    phone: str | None = strawberry.field(
        default=None, description="Digits with an optional leading +; spaces and dashes are fine."
    )


def _token_payload(
    info: Info, user: models.User, refresh_token: str, cart: Cart | None = None
) -> TokenPayload | None:
    tokens = info.context.services.tokens
    return TokenPayload(
        access_token=tokens.issue(f"user:{user.id}"),
        refresh_token=refresh_token,
        expires_in=tokens.ttl_seconds,
        user=User.of(user, caller_is_user=True),
        cart=cart,
        errors=[],
    )


async def _merge_cart(info: Info, cart_id: strawberry.ID, user_id: int) -> Cart | None:
    """Fold the anonymous cart the shopper built into theirs. A cart that is not theirs to
    take (another shopper's, already an order, unknown, in no shop) is left alone: the login
    still counts."""
    shop = info.context.shop
    pk = info.context.services.cart_ids.decode(str(cart_id))
    if pk is None or shop is None:
        return None
    try:
        async with info.context.db.writer() as session, session.begin():
            source = await carts.load_cart(session, shop.id, pk, user_id)
            merged = await cart_details.merge_into_owner(session, source, user_id)
            merged_id = merged.id
    except DomainError:
        return None
    return await cart_view(info, merged_id)


def _refused(code: IdentityErrorCode, message: str, *field: str) -> TokenPayload | None:
    return TokenPayload(
        access_token=None,
        refresh_token=None,
        expires_in=None,
        user=None,
        errors=_errors(DomainError.one(code, message, *field)),
    )


@strawberry.type
class IdentityQuery:
    @strawberry.field(description="The shop named by X-Agora-Shop (or the only shop).")
    def shop(self, info: Info) -> Shop:
        return Shop.of(info.context.require_shop())

    @strawberry.field(description="The signed-in caller, or null for anonymous requests.")
    async def me(self, info: Info) -> User | None:
        principal = info.context.principal
        if principal is None or principal.user_id is None:
            return None
        async with info.context.db.reader() as session:
            row = await session.get(models.User, principal.user_id)
        return User.of(row) if row else None


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Shopper sign-up in the shop the request names.")
    async def customer_register(
        self, info: Info, input: CustomerRegisterInput
    ) -> CustomerRegisterPayload | None:
        shop = info.context.require_shop()
        passwords = info.context.services.passwords

        async def work(session: AsyncSession) -> User:
            user = await service.create_user(
                session,
                passwords,
                personal_cipher(info),
                email=input.email,
                password=input.password,
                name=input.name,
                phone=input.phone,
            )
            await assign_role(session, f"user:{user.id}", "shopper", shop_domain(shop.id))
            return User.of(user)

        user, error = await write(info, work)
        return CustomerRegisterPayload(user=user, errors=_errors(error))

    @strawberry.mutation(
        description="Log in. Wrong password, unknown email and a locked account all look alike."
    )
    async def token_create(
        self,
        info: Info,
        email: str,
        password: str,
        cart_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="An anonymous cart to merge into the shopper's own."),
        ] = None,
    ) -> TokenPayload | None:
        context = info.context
        settings = context.services.settings
        policy = service.LockoutPolicy(
            settings.login_max_failures, timedelta(seconds=settings.login_lockout_seconds)
        )
        async with context.db.writer() as session, session.begin():
            user = await service.authenticate(
                session,
                context.services.passwords,
                personal_cipher(info),
                email=email,
                password=password,
                now=context.now(),
                policy=policy,
            )
            if user is None:
                refusal = _refused(
                    IdentityErrorCode.INVALID_CREDENTIALS, "Wrong email or password."
                )
            else:
                refresh = await sessions.start_session(
                    session,
                    user.id,
                    now=context.now(),
                    ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
                )
        # Committed either way: a failure's count must stick even though the login is refused.
        if user is None:
            return refusal
        cart = await _merge_cart(info, cart_id, user.id) if cart_id is not None else None
        return _token_payload(info, user, refresh, cart)

    @strawberry.mutation(
        description="Swap a refresh token for new tokens; each refresh token works once."
    )
    async def token_refresh(self, info: Info, refresh_token: str) -> TokenPayload | None:
        context = info.context
        ttl = timedelta(seconds=context.services.settings.refresh_token_ttl_seconds)
        async with context.db.writer() as session, session.begin():
            rotation = await sessions.rotate_session(
                session, refresh_token, now=context.now(), ttl=ttl
            )
            user = await session.get(models.User, rotation.user_id) if rotation.new_token else None
        if user is None or rotation.new_token is None:
            return _refused(
                IdentityErrorCode.INVALID_TOKEN, "The refresh token is not valid.", "refreshToken"
            )
        return _token_payload(info, user, rotation.new_token)

    @strawberry.mutation(description="Log out: revokes the refresh token and every rotation of it.")
    async def token_revoke(self, info: Info, refresh_token: str) -> TokenRevokePayload | None:
        context = info.context
        async with context.db.writer() as session, session.begin():
            revoked = await sessions.revoke_session(session, refresh_token, now=context.now())
        return TokenRevokePayload(revoked=revoked, errors=[])
