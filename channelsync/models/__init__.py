"""The domain model shared by every channel: money, catalogue, stock, orders, shipments.

All models are immutable pydantic models that refuse unknown fields. Amounts are
:class:`Money` (``Decimal`` plus currency, never ``float``); times are timezone-aware.
"""

from __future__ import annotations

from channelsync.models.catalogue import (
    Component,
    Listing,
    ListingStatus,
    Product,
    Sku,
    gtin_check_digit,
)
from channelsync.models.inventory import (
    ItemError,
    ListingStatusChange,
    PriceChange,
    StockLevel,
    StockUpdate,
    StockUpdateMode,
    UpdateResult,
)
from channelsync.models.money import (
    DEFAULT_MINOR_UNIT_EXPONENT,
    MINOR_UNIT_EXPONENTS,
    Money,
    minor_unit_exponent,
)
from channelsync.models.orders import (
    Address,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    RefundLine,
    RefundStatus,
)
from channelsync.models.shipments import Carrier, Shipment, ShipmentLine, ShipmentResult

__all__ = [
    "DEFAULT_MINOR_UNIT_EXPONENT",
    "MINOR_UNIT_EXPONENTS",
    "Address",
    "Carrier",
    "Component",
    "ItemError",
    "Listing",
    "ListingStatus",
    "ListingStatusChange",
    "Money",
    "Order",
    "OrderLine",
    "OrderStatus",
    "PriceChange",
    "Product",
    "Refund",
    "RefundLine",
    "RefundStatus",
    "Shipment",
    "ShipmentLine",
    "ShipmentResult",
    "Sku",
    "StockLevel",
    "StockUpdate",
    "StockUpdateMode",
    "UpdateResult",
    "gtin_check_digit",
    "minor_unit_exponent",
]
