"""Types carts and orders share: errors, the address, shipping methods and payment methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.errors import DomainError
from app.security.masking import MaskKind
from app.security.principal import Principal
from app.trade import buyer
from app.trade.errors import TradeErrorCode
from app.trade.order_models import PaymentMethod as PaymentMethodValue
from app.trade.shipping import ShippingOption
from schema.errors import UserError, user_errors
from schema.money import Money
from schema.personal_data import personal_field

__all__ = [
    "Address",
    "AddressInput",
    "OwnerCheck",
    "PaymentMethodEnum",
    "ShippingMethod",
    "TradeError",
    "TradeErrorCodeEnum",
    "everyone",
    "trade_errors",
]

TradeErrorCodeEnum = strawberry.enum(TradeErrorCode, name="TradeErrorCode")
PaymentMethodEnum = strawberry.enum(
    PaymentMethodValue,
    name="PaymentMethod",
    description="STRIPE is offered only when the server has a Stripe key.",
)


@strawberry.type
class TradeError(UserError):
    code: TradeErrorCodeEnum  # type: ignore[valid-type]


def trade_errors(error: DomainError | None) -> list[TradeError]:
    return [] if error is None else user_errors(error, TradeError, TradeErrorCodeEnum)


OwnerCheck = Callable[[Principal | None], bool]


@strawberry.type(description="A postal address; street lines are personal data.")
class Address:
    name: str
    city: str
    region: str = strawberry.field(description='ISO 3166-2 subdivision without the country: "CA".')
    postal_code: str
    country_code: str
    street1_value: strawberry.Private[str]
    street2_value: strawberry.Private[str]
    owner: strawberry.Private[OwnerCheck]

    def owned_by(self, principal: Principal | None) -> bool:
        return self.owner(principal)

    @personal_field(MaskKind.STREET)
    def street1(self, info: Info) -> str:
        return self.street1_value

    @personal_field(MaskKind.STREET)
    def street2(self, info: Info) -> str:
        return self.street2_value

    @classmethod
    def of(cls, address: buyer.Address, owner: OwnerCheck) -> Address:
        return cls(
            name=address.name,
            city=address.city,
            region=address.region,
            postal_code=address.postal_code,
            country_code=address.country_code,
            street1_value=address.street1,
            street2_value=address.street2,
            owner=owner,
        )


@strawberry.input
class AddressInput:
    name: str
    street1: str
    street2: str = ""
    city: str
    region: str = ""
    postal_code: str = ""
    country_code: str

    def to_address(self) -> buyer.Address:
        return buyer.Address(
            name=self.name,
            street1=self.street1,
            street2=self.street2,
            city=self.city,
            region=self.region,
            postal_code=self.postal_code,
            country_code=self.country_code,
        )


@strawberry.type
class ShippingMethodCarrier:
    code: str
    name: str


@strawberry.type
class ShippingMethod:
    code: str
    name: str
    price: Money
    min_delivery_days: int | None
    max_delivery_days: int | None
    carrier: ShippingMethodCarrier | None = strawberry.field(
        description="For a carrier's own method: who will carry the parcel."
    )

    @classmethod
    def of(cls, option: ShippingOption) -> ShippingMethod:
        carrier = None
        if option.carrier_code is not None:
            carrier = ShippingMethodCarrier(
                code=option.carrier_code, name=option.carrier_name or option.carrier_code
            )
        return cls(
            code=option.code,
            name=option.name,
            price=Money.of(option.amount, option.currency),
            min_delivery_days=option.min_delivery_days,
            max_delivery_days=option.max_delivery_days,
            carrier=carrier,
        )


def everyone(_: Any) -> bool:
    """The caller reached the record by holding it (a cart's ID): it is theirs to see."""
    return True
