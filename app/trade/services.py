"""Everything trade's flows need from outside, handed in once by ``app/main.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.contact import PersonalDataCipher
from app.db import Database
from app.trade.payments import PaymentProviders
from app.trade.shipping import ShippingQuoter

__all__ = ["TradeServices"]


@dataclass(frozen=True)
class TradeServices:
    db: Database
    quoter: ShippingQuoter
    providers: PaymentProviders
    cipher: PersonalDataCipher
    clock: Callable[[], datetime]
    payment_timeout: timedelta
