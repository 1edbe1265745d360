"""The stable context objects passed to hooks.

Hooks receive a few of these rather than many loose values, so fields can be added
later without breaking existing implementations. All are frozen pydantic models that
refuse unknown fields.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from channelsync.models import Money

__all__ = ["LowStockAlert", "PriceContext"]


class PriceContext(BaseModel):
    """What a price rule knows about the price it is asked to adjust."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: str
    """The configured channel name (``tmall-main``)."""
    channel_type: str
    """The channel's type name (``tmall``)."""
    merchant_code: str
    """The SKU's merchant code in the master catalogue."""
    catalogue_price: Money
    """The price in the master catalogue, before any rule."""
    cost: Money | None = None
    """The unit cost, when the catalogue knows it (for margin rules)."""


class LowStockAlert(BaseModel):
    """Available stock of a SKU fell below its threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    merchant_code: str
    """The SKU's merchant code in the master catalogue."""
    available: int
    """Stock available to sell after the change."""
    threshold: int = Field(ge=0)
    """The threshold that was crossed: ``available`` is now below it."""
    channel: str | None = None
    """The channel whose allocation crossed the threshold; ``None`` for the master stock."""
    at: AwareDatetime
    """When the crossing was detected."""
