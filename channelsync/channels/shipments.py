"""The shipments capability: push carrier and tracking number for an order."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from channelsync.channels.capabilities import ChannelLimits
from channelsync.errors import InvalidRequestError
from channelsync.models import Carrier, Shipment, ShipmentResult

__all__ = ["ShipmentsCapability"]


class ShipmentsCapability(ABC):
    """Confirm shipment of an order (or some of its lines) with carrier and tracking number.

    Implement :meth:`push_shipment`. A marketplace answering "already shipped" is a
    success (``ShipmentResult.already_shipped``), never an error to retry.
    """

    limits: ClassVar[ChannelLimits]
    name: str

    @abstractmethod
    async def push_shipment(self, shipment: Shipment) -> ShipmentResult:
        """Push one shipment to the marketplace."""

    def carrier_code(self, carrier: Carrier) -> str:
        """Return this marketplace's code for ``carrier``.

        Raises :class:`InvalidRequestError` naming the carrier and the channel when the
        marketplace has no code for it.
        """
        code = self.limits.carrier_code(carrier)
        if code is None:
            known = ", ".join(sorted(c.value for c in self.limits.carrier_codes)) or "none"
            raise InvalidRequestError(
                f"carrier {carrier.value!r} has no code on this marketplace (known: {known})",
                channel=self.name,
                operation="shipments.push",
            )
        return code
