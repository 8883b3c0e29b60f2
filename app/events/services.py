"""The events collaborators the API and the workers share, built once in the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from app.events.dispatcher import Dispatcher
from app.events.policy import DeliveryPolicy
from app.security.outbound import OutboundPolicy
from app.security.outbound_client import OutboundClient

__all__ = ["EventServices"]


@dataclass(frozen=True, slots=True)
class EventServices:
    dispatcher: Dispatcher
    policy: DeliveryPolicy
    outbound: OutboundPolicy
    client: OutboundClient

    async def close(self) -> None:
        await self.client.close()
