"""Orders as the back office and their buyer read them. Relations resolve through the request's
loaders, so a page of orders costs the same few statements whatever its size."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry.types import Info

from app.security.masking import MaskKind
from app.security.principal import Principal
from app.trade import buyer, payment_models
from app.trade import order_models as models
from schema.goods.types import ProductVariant
from schema.money import Money
from schema.node import Node, encode_id
from schema.personal_data import personal_field
from schema.trade.common import Address, OwnerCheck, PaymentMethodEnum

if TYPE_CHECKING:
    from schema.logistics.shipment_types import Shipment

__all__ = ["Order", "OrderEvent", "OrderLine", "Payment", "Refund"]

OrderStatusEnum = strawberry.enum(models.OrderStatus, name="OrderStatus")
PaymentStatusEnum = strawberry.enum(models.PaymentStatus, name="PaymentStatus")
FulfillmentStatusEnum = strawberry.enum(models.FulfillmentStatus, name="FulfillmentStatus")
PaymentStateEnum = strawberry.enum(
    payment_models.PaymentState,
    name="PaymentTransactionStatus",
    description="One payment attempt's state; the order's paymentStatus sums them up.",
)
RefundStatusEnum = strawberry.enum(payment_models.RefundState, name="RefundStatus")


def _is_buyer(user_id: int | None, caller_is_buyer: bool) -> OwnerCheck:
    def check(principal: Principal | None) -> bool:
        if caller_is_buyer:
            return True
        return user_id is not None and principal is not None and principal.user_id == user_id

    return check


@strawberry.type
class OrderLine(Node):
    product_title: str
    variant_title: str
    sku: str
    quantity: int
    unit_price: Money
    total: Money
    refunded_quantity: int
    fulfilled_quantity: int
    variant_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.OrderLine, currency: str) -> OrderLine:
        return cls(
            id=encode_id("OrderLine", row.id),
            product_title=row.product_title,
            variant_title=row.variant_title,
            sku=row.sku,
            quantity=row.quantity,
            unit_price=Money.of(row.unit_price, currency),
            total=Money.of(row.total, currency),
            refunded_quantity=row.refunded_quantity,
            fulfilled_quantity=row.fulfilled_quantity,
            variant_pk=row.variant_id,
        )

    @strawberry.field(description="The variant as it is now; null once deleted.")
    async def variant(self, info: Info) -> ProductVariant | None:
        if self.variant_pk is None:
            return None
        stocked = await info.context.loaders.variant.load(self.variant_pk)
        return ProductVariant.of(stocked) if stocked else None


@strawberry.type
class Payment:
    id: strawberry.ID
    provider: str
    status: PaymentStateEnum  # type: ignore[valid-type]
    amount: Money
    reference: str | None = strawberry.field(description="The provider's id, e.g. pi_...")
    failure_message: str
    created_at: datetime

    @classmethod
    def of(cls, row: payment_models.Payment) -> Payment:
        return cls(
            id=encode_id("Payment", row.id),
            provider=row.provider,
            status=row.state,
            amount=Money.of(row.amount, row.currency),
            reference=row.reference,
            failure_message=row.failure_message,
            created_at=row.created_at,
        )


@strawberry.type
class RefundLine:
    line_id: strawberry.ID
    quantity: int


@strawberry.type
class Refund:
    id: strawberry.ID
    amount: Money
    reason: str
    status: RefundStatusEnum  # type: ignore[valid-type]
    reference: str | None
    failure_message: str
    lines: list[RefundLine]
    created_at: datetime

    @classmethod
    def of(cls, row: payment_models.Refund) -> Refund:
        return cls(
            id=encode_id("Refund", row.id),
            amount=Money.of(row.amount, row.currency),
            reason=row.reason,
            status=row.state,
            reference=row.reference,
            failure_message=row.failure_message,
            lines=[
                RefundLine(line_id=encode_id("OrderLine", r["line_id"]), quantity=r["quantity"])
                for r in row.lines
            ],
            created_at=row.created_at,
        )


@strawberry.type
class OrderEvent:
    kind: str = strawberry.field(description="PLACED, PAID, CANCELLED, REFUNDED, EXPIRED, ...")
    actor: str
    message: str
    created_at: datetime


@strawberry.type
class OrderCost:
    subtotal: Money
    shipping: Money
    total: Money = strawberry.field(description="subtotal + shipping; prices include tax.")
    paid: Money
    refunded: Money


@strawberry.type
class OrderShippingMethod:
    code: str
    name: str
    price: Money


@strawberry.type
class Order(Node):
    number: int
    name: str = strawberry.field(description='The number as shown to people: "#1001".')
    status: OrderStatusEnum  # type: ignore[valid-type]
    payment_status: PaymentStatusEnum  # type: ignore[valid-type]
    fulfillment_status: FulfillmentStatusEnum  # type: ignore[valid-type]
    payment_method: PaymentMethodEnum  # type: ignore[valid-type]
    cost: OrderCost
    shipping_method: OrderShippingMethod
    shipping_address: Address
    created_at: datetime
    expires_at: datetime | None = strawberry.field(
        description="When an unpaid card order expires and releases its stock."
    )
    pk: strawberry.Private[int]
    user_id: strawberry.Private[int | None]
    contact: strawberry.Private[buyer.Contact]
    # Set where the operation itself proved the caller is the buyer (their own checkout).
    caller_is_buyer: strawberry.Private[bool] = False

    def owned_by(self, principal: Principal | None) -> bool:
        if self.caller_is_buyer:
            return True
        return (
            self.user_id is not None
            and principal is not None
            and (principal.user_id == self.user_id)
        )

    @classmethod
    def of(cls, row: models.Order, cipher: Any, *, caller_is_buyer: bool = False) -> Order:
        currency = row.currency
        address = buyer.open_address(row.shipping_address, cipher)
        assert address is not None
        return cls(
            id=encode_id("Order", row.id),
            number=row.number,
            name=f"#{row.number}",
            status=row.status,
            payment_status=row.payment_status,
            fulfillment_status=row.fulfillment_status,
            payment_method=row.payment_method,
            cost=OrderCost(
                subtotal=Money.of(row.subtotal, currency),
                shipping=Money.of(row.shipping_amount, currency),
                total=Money.of(row.total, currency),
                paid=Money.of(row.paid_amount, currency),
                refunded=Money.of(row.refunded_amount, currency),
            ),
            shipping_method=OrderShippingMethod(
                code=row.shipping_method_code,
                name=row.shipping_method_name,
                price=Money.of(row.shipping_amount, currency),
            ),
            shipping_address=Address.of(address, _is_buyer(row.user_id, caller_is_buyer)),
            created_at=row.created_at,
            expires_at=row.expires_at,
            pk=row.id,
            user_id=row.user_id,
            contact=buyer.open_contact(row.sealed_email, row.sealed_phone, cipher),
            caller_is_buyer=caller_is_buyer,
        )

    @personal_field(MaskKind.EMAIL)
    def email(self, info: Info) -> str | None:
        return self.contact.email

    @personal_field(MaskKind.PHONE)
    def phone(self, info: Info) -> str | None:
        return self.contact.phone

    @strawberry.field
    async def lines(self, info: Info) -> list[OrderLine]:
        currency = self.cost.total.currency_code
        rows = await info.context.loaders.order_lines.load(self.pk)
        return [OrderLine.of(row, currency) for row in rows]

    @strawberry.field
    async def payments(self, info: Info) -> list[Payment]:
        return [Payment.of(row) for row in await info.context.loaders.order_payments.load(self.pk)]

    @strawberry.field
    async def refunds(self, info: Info) -> list[Refund]:
        return [Refund.of(row) for row in await info.context.loaders.order_refunds.load(self.pk)]

    @strawberry.field(description="Its parcels, oldest first, each with its timeline.")
    async def shipments(
        self, info: Info
    ) -> list[Annotated[Shipment, strawberry.lazy("schema.logistics.shipment_types")]]:
        from schema.logistics.shipment_types import Shipment as ShipmentType

        rows = await info.context.loaders.shipments.load(self.pk)
        return [ShipmentType.of(row) for row in rows]

    @strawberry.field(description="What happened to the order, oldest first.")
    async def events(self, info: Info) -> list[OrderEvent]:
        rows = await info.context.loaders.order_events.load(self.pk)
        return [
            OrderEvent(kind=r.kind, actor=r.actor, message=r.message, created_at=r.created_at)
            for r in rows
        ]
