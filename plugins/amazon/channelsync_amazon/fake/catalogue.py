"""The fake's listings: attributes, JSON Patch (add/replace/merge/delete), rendering.

Each seller SKU is a :class:`FakeSku`; its price and merchant-fulfilled quantity are
kept in ``price``/``quantity`` (the order generator decrements the quantity), every
other attribute field in ``extra["attributes"]``. A patch works on the materialised
attributes and writes them back, so ``replace`` really drops the fields it does not
resend and ``merge`` really keeps them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from channelsync.testing.fakes import FakeItem, FakeSku
from channelsync_amazon.fake.wire import iso

__all__ = [
    "MERGE_SELECTORS",
    "apply_patches",
    "is_afn",
    "issue",
    "materialise",
    "render_item",
    "render_summary",
]

#: The selectors ``merge`` matches list entries by, per attribute.
MERGE_SELECTORS: Mapping[str, tuple[str, ...]] = {
    "fulfillment_availability": ("fulfillment_channel_code",),
    "purchasable_offer": ("marketplace_id", "currency", "audience"),
}
_OPS = frozenset({"add", "replace", "merge", "delete"})


def issue(code: str, message: str, attribute: str | None = None) -> dict[str, Any]:
    """Return a Listings ``Issue`` of severity ERROR."""
    found: dict[str, Any] = {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "categories": ["INVALID_ATTRIBUTE"] if attribute else [],
    }
    if attribute:
        found["attributeNames"] = [attribute]
    return found


def is_afn(sku: FakeSku) -> bool:
    """Return whether Amazon fulfils (and holds the stock of) ``sku``."""
    return bool(sku.extra.get("afn"))


def materialise(sku: FakeSku, marketplace_id: str, currency: str) -> dict[str, Any]:
    """Return the SKU's attributes with price and MFN quantity filled in from the truth."""
    attributes: dict[str, Any] = copy.deepcopy(sku.extra.get("attributes", {}))
    offers = attributes.setdefault("purchasable_offer", [])
    home = next(
        (o for o in offers if o.get("marketplace_id") == marketplace_id),
        None,
    )
    if home is None:
        home = {"marketplace_id": marketplace_id, "currency": currency, "audience": "ALL"}
        offers.append(home)
    home["our_price"] = [{"schedule": [{"value_with_tax": sku.price}]}]
    if not is_afn(sku):
        availability = attributes.setdefault("fulfillment_availability", [])
        default = next(
            (a for a in availability if a.get("fulfillment_channel_code") == "DEFAULT"), None
        )
        if default is None:
            default = {"fulfillment_channel_code": "DEFAULT"}
            availability.append(default)
        default["quantity"] = sku.quantity
    return attributes


def _absorb(sku: FakeSku, attributes: dict[str, Any], marketplace_id: str) -> None:
    """Write patched attributes back into the SKU's truth fields and extras."""
    for offer in attributes.get("purchasable_offer", []):
        if offer.get("marketplace_id") == marketplace_id:
            prices = offer.get("our_price") or [{}]
            schedule = (prices[0].get("schedule") or [{}])[0]
            if "value_with_tax" in schedule:
                sku.price = Decimal(str(schedule["value_with_tax"]))
    for entry in attributes.get("fulfillment_availability", []):
        if entry.get("fulfillment_channel_code") == "DEFAULT" and "quantity" in entry:
            sku.quantity = int(entry["quantity"])
    sku.extra["attributes"] = attributes


def _check_value(name: str, value: list[Any], marketplace_id: str, currency: str) -> str | None:
    """Return why ``value`` is not acceptable for attribute ``name``, or ``None``."""
    for entry in value:
        if not isinstance(entry, dict):
            return f"'{name}' values must be objects"
        if name == "fulfillment_availability" and "quantity" in entry:
            quantity = entry["quantity"]
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
                return "'quantity' must be a whole number of at least 0"
        if name == "purchasable_offer":
            if entry.get("marketplace_id") not in (None, marketplace_id):
                return f"marketplace {entry.get('marketplace_id')} is not enabled for this seller"
            if entry.get("currency") not in (None, currency):
                return f"currency must be {currency}"
            for price in entry.get("our_price", []):
                for step in price.get("schedule", []) if isinstance(price, dict) else []:
                    amount = step.get("value_with_tax") if isinstance(step, dict) else None
                    try:
                        ok = amount is not None and Decimal(str(amount)) > 0
                    except InvalidOperation:
                        ok = False
                    if isinstance(amount, bool | str) or not ok:
                        return "'value_with_tax' must be a number greater than 0"
    return None


def _merge(current: list[Any], value: list[Any], selectors: tuple[str, ...]) -> None:
    for entry in value:
        match = next((c for c in current if all(c.get(k) == entry.get(k) for k in selectors)), None)
        if match is None:
            current.append(copy.deepcopy(entry))
        else:
            match.update(copy.deepcopy(entry))


def apply_patches(  # noqa: PLR0911, PLR0912 - one early answer per rule Amazon checks
    sku: FakeSku,
    product_type: object,
    patches: object,
    *,
    marketplace_id: str,
    currency: str,
    now: datetime,
    validate_only: bool = False,
) -> list[dict[str, Any]]:
    """Apply JSON Patch operations to ``sku``; return the ERROR issues (none: applied)."""
    if product_type not in ("PRODUCT", sku.extra.get("product_type")):
        return [issue("4000003", f"product type {product_type!r} does not match this listing")]
    if not isinstance(patches, list) or not patches:
        return [issue("90220", "'patches' is required but not supplied")]
    attributes = materialise(sku, marketplace_id, currency)
    for patch in patches:
        if not isinstance(patch, dict) or patch.get("op") not in _OPS:
            return [issue("99010", "patch 'op' must be add, replace, merge or delete")]
        path = patch.get("path")
        parts = path.split("/") if isinstance(path, str) else []
        if len(parts) != 3 or parts[0] != "" or parts[1] != "attributes" or not parts[2]:
            return [issue("99010", f"only top-level attributes can be patched, not {path!r}")]
        name, op, value = parts[2], patch["op"], patch.get("value")
        if op == "delete":
            attributes.pop(name, None)
            continue
        if not isinstance(value, list) or not value:
            return [issue("99022", f"'{name}' needs at least one value", name)]
        problem = _check_value(name, value, marketplace_id, currency)
        if problem:
            return [issue("99022", problem, name)]
        if (
            name == "fulfillment_availability"
            and is_afn(sku)
            and any(v.get("fulfillment_channel_code") == "DEFAULT" for v in value)
        ):
            return [issue("8541", "this SKU is fulfilled by Amazon; its stock is Amazon's")]
        if op == "merge":
            selectors = MERGE_SELECTORS.get(name)
            if selectors is None or any(k not in v for v in value for k in selectors):
                wanted = ", ".join(selectors or ("a known selector",))
                return [issue("99023", f"'merge' on '{name}' needs the selectors {wanted}", name)]
            _merge(attributes.setdefault(name, []), value, selectors)
        else:
            attributes[name] = copy.deepcopy(value)
    if not validate_only:
        _absorb(sku, attributes, marketplace_id)
        sku.extra["updated"] = now
    return []


def render_summary(item: FakeItem, sku: FakeSku, marketplace_id: str) -> dict[str, Any]:
    """Return the ``ItemSummaryByMarketplace`` of a SKU."""
    buyable = item.on_sale and sku.quantity > 0 and not sku.extra.get("suppressed")
    summary: dict[str, Any] = {
        "marketplaceId": marketplace_id,
        "asin": sku.extra["asin"],
        "productType": sku.extra.get("product_type", "PRODUCT"),
        "conditionType": "new_new",
        "status": ["BUYABLE", "DISCOVERABLE"] if buyable else ["DISCOVERABLE"],
        "itemName": f"{item.title} {sku.properties}".strip(),
        "createdDate": iso(item.created),
        "lastUpdatedDate": iso(max(item.modified, sku.extra.get("updated", item.modified))),
    }
    if is_afn(sku):
        summary["fnSku"] = sku.extra["fnsku"]
    return summary


def render_item(
    item: FakeItem,
    sku: FakeSku,
    *,
    marketplace_id: str,
    currency: str,
    included: frozenset[str],
    region_channel: str,
) -> dict[str, Any]:
    """Return the Listings ``Item`` of a SKU with the requested ``includedData``."""
    rendered: dict[str, Any] = {"sku": sku.sku_id}
    if "summaries" in included:
        rendered["summaries"] = [render_summary(item, sku, marketplace_id)]
    if "offers" in included:
        rendered["offers"] = [
            {
                "marketplaceId": marketplace_id,
                "offerType": "B2C",
                "price": {"currencyCode": currency, "amount": f"{sku.price:.2f}"},
                "audience": {"value": "ALL", "displayName": "Sell on Amazon"},
            }
        ]
    if "fulfillmentAvailability" in included:
        code = region_channel if is_afn(sku) else "DEFAULT"
        rendered["fulfillmentAvailability"] = [
            {"fulfillmentChannelCode": code, "quantity": sku.quantity}
        ]
    if "attributes" in included:
        rendered["attributes"] = materialise(sku, marketplace_id, currency)
    return rendered
