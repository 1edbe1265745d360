"""Write the reference tables of the documentation from the code they describe.

Some pages hold blocks generated from the code itself, between two markers::

    <!-- generated:NAME -->
    ...
    <!-- end generated:NAME -->

Run ``python docs/_tools/reference.py`` after changing the configuration models, the
hook specifications, the metrics or a built-in plugin's limits; ``tests/docs`` fails
while a block differs from what this module renders, so the pages cannot go stale.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

DOCS = Path(__file__).resolve().parents[1]

#: The marketplace plugins shipped with channelsync, in the order the pages list them.
BUILTIN_TYPES = ("tmall", "jd", "pinduoduo", "amazon")

# What each engine-side key is for. Types, defaults and bounds come from the models;
# a model field missing here (or a description of a field that no longer exists)
# makes rendering fail, so a new key cannot reach a release undocumented.
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "EngineConfig": {
        "strict": "Partition stock between channels at every level, not only when scarce.",
        "scarce_threshold": "Per-SKU scarcity level at or below which units are dealt "
        "out one by one (default: the number of channels selling the SKU; `0` turns "
        "last-unit protection off).",
        "sales_window_days": "How far back recent sales reach when ranking channels of "
        "equal priority.",
        "low_stock_threshold": "Level below which the low-stock hook fires (default: "
        "the scarcity level).",
        "order_lookback_hours": "How far back the first order pull of a channel reaches.",
        "fresh_reads": "Order pulls also read the newest span a channel's completeness lag "
        "excludes, for early visibility (channels that declare a floor for it); the span "
        "is read again later, complete.",
        "pace_window_seconds": "How far back a SKU's sales per channel are counted for its "
        "pace: the units it may have sold and not yet been seen (pace times each channel's "
        "visibility delay) are held back and it is partitioned that much earlier; `0` turns "
        "this off.",
    },
    "DaemonConfig": {
        "pull_interval": "Seconds between order pulls of a channel.",
        "pull_intervals": 'Per-channel overrides of `pull_interval`: `{ "tmall-main" = 30 }`.',
        "flush_interval": "How often a channel's outbox is checked for entries whose "
        "retry time has come (new work wakes it at once).",
        "reconcile_interval": "Seconds between full listing reads of a channel.",
        "stale_after": "Seconds without a successful sync after which `/healthz` fails; "
        "must be longer than the slowest pull interval.",
        "shutdown_grace": "Seconds work in flight may run after the first stop signal.",
        "lock_ttl": "Seconds the store lock outlives its last heartbeat (a crashed "
        "daemon's lock expires after it).",
        "max_backoff": "Longest wait, in seconds, after repeated failures of a step.",
        "personal_data_days": (
            "Days after an order is done (shipped, completed, cancelled) before the daemon "
            "erases the buyer's address, name, phone and note from it."
        ),
    },
    "ConsoleSettings": {
        "address": "`HOST:PORT` (`[::1]:PORT` for IPv6) where the daemon serves the "
        "operator's console ([how-to](../how-to/console.md)); unset: no console. Beyond "
        "loopback only with a token set. `--console` overrides it.",
        "token_env": "The environment variable holding the token that changes through "
        "the console need; when it is unset the systemd credential `console_token` in "
        "`$CREDENTIALS_DIRECTORY` is read. The token is never read from this file: a "
        "`token` key is refused.",
        "refresh_seconds": "How often the live parts of the console's pages refresh.",
    },
    "WorkersConfig": {
        "heartbeat_every": "Seconds between a worker's heartbeats.",
        "stalled_after": "Seconds a worker may be silent before its jobs go to another "
        "worker; at least three heartbeats.",
        "sweep_every": "Seconds between looks for the jobs of silent workers; divides a minute.",
        "poll_every": "Seconds between looks for jobs when no notification came.",
        "retries": "Tries of a failed step before the clock queues it again at its turn.",
    },
    "ChannelSyncSettings": {
        "share": "Fraction of available stock the channel is shown.",
        "cap": "The most the channel is ever shown.",
        "buffer": "Units held back from the channel.",
        "priority": "Who gets the last units (higher first).",
        "minimum": "A quantity shown even when it is not there; breaks the last-unit "
        "guarantee and is reported as overcommitted.",
        "managed_stock": "`false` for stock the marketplace holds itself (Amazon FBA): "
        "read, never pushed.",
        "auto_delist": "Delist a listing at zero and list it again when stock returns.",
        "price": "The channel's price rule: an inline table of the keys below.",
        "campaigns": "Campaign prices in time windows: an array of inline tables of the "
        "keys below.",
        "warehouses": "The warehouses whose stock feeds the channel, preferred first: an order "
        "is reserved in the first that can cover it. Unset: every warehouse but those a "
        "marketplace holds. ([how-to](../how-to/allocation-and-prices.md#warehouses))",
        "marketplace_warehouses": "Warehouses this channel's marketplace holds (Amazon FBA): "
        "their units are the marketplace's to sell and feed no channel, this one included; "
        "no other channel may hold or list them.",
    },
    "PriceRule": {
        "markup": "Percentage added to the catalogue price (negative: a discount).",
        "ending": 'Round up to the next price with this ending (`"0.90"`: 12.34 becomes '
        '12.90; `"9"`: 123 becomes 129).',
        "floor_margin": "Percentage over cost the price never goes below.",
        "floor": "Absolute amount the price never goes below.",
        "currency": "The currency the channel sells in (default: each SKU's catalogue currency).",
        "rates": 'Conversion from a SKU\'s currency to `currency`: `{ CNY = "0.138" }`; '
        "without one, a SKU in another currency is parked as `CURRENCY_MISMATCH`.",
    },
    "Campaign": {
        "start": "When the campaign starts (with a UTC offset).",
        "end": "When it ends; must be after `start`.",
        "price": "A fixed campaign price (give exactly one of `price` and `markup`).",
        "markup": "A campaign markup percentage, replacing the rule's markup.",
        "skus": "Merchant codes it applies to (empty: every SKU).",
    },
}

# Built-in plugin settings whose model carries no description of its own.
_PLUGIN_DESCRIPTIONS: dict[str, str] = {
    "base_url": "Overrides the marketplace gateway (a sandbox or a local fake).",
    "sign_method": "The signature method sent with every request (the gateway's `sign_method`).",
    "region": "The Selling Partner API region whose endpoint serves the marketplaces.",
    "marketplace_ids": "The marketplaces of the seller account; the first is the home "
    "marketplace whose listings and prices are managed.",
    "seller_id": "The merchant token (seller id) of the account.",
    "fulfillment": '`"MFN"`: the merchant ships and the engine pushes stock; `"AFN"`: FBA, '
    "stock is Amazon's and is read, never pushed.",
}


# -- rendering helpers --------------------------------------------------------------------


def _type_name(annotation: Any) -> str:  # noqa: PLR0911 - one answer per kind of type
    """Describe an annotation in TOML terms."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(_type_name(a) for a in kept)
    if origin is typing.Literal:
        return "one of " + ", ".join(f'`"{a}"`' for a in args)
    if origin is tuple:
        inner = args[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return "array of tables"
        return f"array of {_type_name(inner)}s"
    if origin is dict:
        return f"table of {_type_name(args[1])}s"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    names = {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        Decimal: "decimal",
    }
    if annotation in names:
        return names[annotation]
    if getattr(annotation, "__name__", "") == "AwareDatetime":
        return "datetime with offset"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(field: FieldInfo) -> str:
    """Return the field's numeric bounds (``≥ 0``, ``0 to 1`` …), or ''."""
    found: dict[str, Any] = {}
    metadata = list(field.metadata)
    for arg in typing.get_args(field.annotation):
        metadata.extend(getattr(arg, "__metadata__", ()))
    for item in metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, kind.capitalize())):
                found[kind] = getattr(item, kind)
    if "ge" in found and "le" in found:
        return f"{found['ge']} to {found['le']}"
    signs = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}
    return ", ".join(f"{signs[kind]} {value}" for kind, value in found.items())


def _default(field: FieldInfo) -> str:  # noqa: PLR0911 - one answer per kind of value
    if field.is_required():
        return "required"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, BaseModel):
        return "`{}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple | list):
        return "`[]`"
    if isinstance(value, dict):
        return "`{}`"
    return f"`{value}`"


def _model_table(
    model: type[BaseModel], prefix: str, describe: Callable[[str, FieldInfo], str]
) -> list[str]:
    rows = [
        "| key | type | default | allowed | what it is for |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, field in model.model_fields.items():
        rows.append(
            f"| `{prefix}{name}` | {_type_name(field.annotation)} | {_default(field)} "
            f"| {_bounds(field) or ''} | {describe(name, field)} |"
        )
    return rows


def _engine_description(model: type[BaseModel]) -> Callable[[str, FieldInfo], str]:
    known = _DESCRIPTIONS[model.__name__]
    stale = sorted(set(known) - set(model.model_fields))
    if stale:
        raise LookupError(f"{model.__name__}: described keys no longer exist: {stale}")

    def describe(name: str, _field: FieldInfo) -> str:
        if name not in known:
            raise LookupError(
                f"{model.__name__}.{name} has no description in docs/_tools/reference.py"
            )
        return known[name]

    return describe


def _plugin_description(name: str, field: FieldInfo) -> str:
    if field.description:
        return " ".join(field.description.split())
    return _PLUGIN_DESCRIPTIONS.get(name, "")


def _channel_types() -> Mapping[str, Any]:
    from channelsync.plugins import build_plugin_manager  # noqa: PLC0415 - loads plugins

    registry = build_plugin_manager().registry
    missing = [name for name in BUILTIN_TYPES if name not in registry]
    if missing:
        raise LookupError(f"built-in plugins not installed: {missing}")
    return {name: registry.get(name) for name in BUILTIN_TYPES}


# -- blocks ---------------------------------------------------------------------------


def config_keys() -> str:
    """Render the keys of ``channelsync.toml`` that the core and the engine read."""
    from channelsync import config  # noqa: PLC0415 - keep importing this module cheap
    from channelsync.console.settings import ConsoleSettings  # noqa: PLC0415

    lines = [
        "### `[store]`",
        "",
        "| key | type | default | what it is for |",
        "| --- | --- | --- | --- |",
        f"| `url` | string | `sqlite:///<directory of the file>/{config.DEFAULT_STORE_FILENAME}` "
        "| SQLAlchemy URL of the state store; a relative SQLite path is taken relative "
        "to the configuration file. |",
        "| `workspace` | string | the store's only workspace | The merchant's workspace in a "
        "store that holds several (1 to 40 lowercase letters, digits, `_` or `-`): on "
        "PostgreSQL the schema `cs_NAME`, on SQLite the file `<name>.NAME.db` beside the "
        "store's; `default` is the URL's own schema or file. `--workspace NAME` on a "
        "command overrides it. |",
        "",
        "### `[engine]`",
        "",
        *_model_table(config.EngineConfig, "", _engine_description(config.EngineConfig)),
        "",
        "### `[daemon]`",
        "",
        *_model_table(config.DaemonConfig, "", _engine_description(config.DaemonConfig)),
        "",
        "### `[console]`",
        "",
        *_model_table(ConsoleSettings, "", _engine_description(ConsoleSettings)),
        "",
        "### `[workers]`",
        "",
        "Read by `channelsync worker` only ([how-to](../how-to/workers.md)).",
        "",
        *_model_table(config.WorkersConfig, "", _engine_description(config.WorkersConfig)),
        "",
        "### `[[channels]]`: every channel",
        "",
        "| key | type | default | what it is for |",
        "| --- | --- | --- | --- |",
        "| `name` | string | required | Unique; 1 to 63 letters, digits, `_`, `.` or `-`, "
        "starting with a letter or digit. |",
        "| `type` | string | required | A channel type provided by an installed plugin "
        "(`channelsync plugins` lists them). |",
        "| `base_url` | string | the marketplace's gateway | An `http://` or `https://` "
        "URL replacing the gateway (a sandbox or a local fake). |",
        "",
        "### `[[channels]]`: allocation and price keys",
        "",
        *_model_table(
            config.ChannelSyncSettings, "", _engine_description(config.ChannelSyncSettings)
        ),
        "",
        "### `price = { ... }`",
        "",
        *_model_table(config.PriceRule, "price.", _engine_description(config.PriceRule)),
        "",
        "### `campaigns = [ { ... } ]`",
        "",
        *_model_table(config.Campaign, "", _engine_description(config.Campaign)),
    ]
    return "\n".join(lines)


def channel_settings() -> str:
    """Render the keys of each built-in channel type, and the credentials it needs."""
    lines: list[str] = []
    for name, cls in _channel_types().items():
        required = ", ".join(f"`{f}`" for f in cls.credential_fields) or "none"
        optional = ", ".join(f"`{f}`" for f in cls.optional_credential_fields) or "none"
        lines += [
            f'### `type = "{name}"`',
            "",
            f"Credentials (keyring or environment, never the file): {required}; "
            f"optional: {optional}.",
            "",
            *_model_table(cls.settings_model, "", _plugin_description),
            "",
        ]
    return "\n".join(lines).rstrip()


def hooks() -> str:
    """Render every hook, with its exact signature and its full docstring."""
    from channelsync.plugins import hookspecs  # noqa: PLC0415

    lines: list[str] = []
    for name, func in vars(hookspecs).items():
        if not name.startswith("channelsync_"):
            continue
        sig = inspect.signature(func)
        params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
        # pluggy keeps a spec's options on the function, under the project's name.
        options = getattr(func, "channelsync_spec", None) or {}
        calls = (
            "The first non-`None` answer wins; later implementations are not called."
            if options.get("firstresult")
            else "Every implementation is called."
        )
        lines += [
            f"### `{name}({params}) -> {sig.return_annotation}`",
            "",
            f"*{calls}*",
            "",
            _docstring_markdown(inspect.getdoc(func) or ""),
            "",
        ]
    return "\n".join(lines).rstrip()


def _docstring_markdown(doc: str) -> str:
    """Turn a reST docstring into Markdown: roles and ``code`` become `code`."""
    text = re.sub(r":(?:class|func|data|meth|mod|attr):`~?([^`]+)`", r"`\1`", doc)
    text = text.replace("``", "`")
    text = re.sub(r"^:param (\w+):", r"- **`\1`**:", text, flags=re.MULTILINE)
    text = re.sub(r"^:return:", "- **returns**:", text, flags=re.MULTILINE)
    # Continuation lines of a field list item stay inside the list item.
    return re.sub(r"\n {4}(?=\S)", "\n  ", text)


def metrics() -> str:
    """Render every Prometheus metric the daemon serves: name, type, labels, help."""
    from prometheus_client.metrics import MetricWrapperBase  # noqa: PLC0415

    from channelsync.daemon.metrics import DaemonMetrics  # noqa: PLC0415
    from channelsync.http.metrics import TransportMetrics  # noqa: PLC0415

    rows = [
        "| metric | type | labels | source | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for source, owner in (
        ("daemon", DaemonMetrics()),
        ("transport", TransportMetrics()),
    ):
        for metric in _metrics_of(owner, MetricWrapperBase):
            name = metric._name
            kind = metric._type
            if kind == "counter":
                name += "_total"
            labels = ", ".join(f"`{label}`" for label in metric._labelnames)
            rows.append(f"| `{name}` | {kind} | {labels} | {source} | {metric._documentation} |")
    return "\n".join(rows)


def _metrics_of(owner: object, base: type) -> Iterable[Any]:
    return [value for value in vars(owner).values() if isinstance(value, base)]


def limits() -> str:
    """Render the numbers each built-in marketplace plugin declares as its limits."""
    from channelsync.channels import Operation  # noqa: PLC0415

    lines = [
        "| | " + " | ".join(BUILTIN_TYPES) + " |",
        "| --- |" + " --- |" * len(BUILTIN_TYPES),
    ]
    found = _channel_types()
    windows = {name: cls.limits.order_window for name, cls in found.items()}

    def row(label: str, cell: Callable[[str], str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(name) for name in BUILTIN_TYPES) + " |")

    for operation in Operation:
        if any(operation in cls.limits.batch_sizes for cls in found.values()):
            row(
                f"batch: `{operation.value}`",
                lambda name, op=operation: str(found[name].limits.batch_sizes.get(op, "-")),
            )
    row("native stock deltas", lambda name: "yes" if found[name].limits.stock_delta else "no")
    row("listing scope", lambda name: found[name].limits.listing_scope.value)
    row("order window: longest span", lambda name: _span(windows[name].max_span))
    row(
        "order window: span per query",
        lambda name: _span(windows[name].default_span or windows[name].max_span),
    )
    row("order window: lag behind the marketplace clock", lambda name: _span(windows[name].lag))
    row("order window: overlap", lambda name: _span(windows[name].overlap))
    row(
        "order window: fresh reads up to",
        lambda name: _fresh(windows[name].fresh_lag),
    )
    row("order paging", lambda name: windows[name].paging)
    row(
        "default rate limit",
        lambda name: _rate(found[name].limits.default_rate_limit),
    )
    return "\n".join(lines)


def rate_limits() -> str:
    """Render each built-in plugin's declared rate limits, per marketplace operation."""
    lines: list[str] = []
    for name, cls in _channel_types().items():
        lines += [
            f"#### {name}",
            "",
            "| operation | rate | burst |",
            "| --- | --- | --- |",
        ]
        for operation, limit in cls.limits.rate_limits.items():
            lines.append(f"| `{operation}` | {_per_second(limit.rate)} | {limit.burst} |")
        lines.append("")
    return "\n".join(lines).rstrip()


def _rate(limit: Any) -> str:
    return f"{_per_second(limit.rate)}, burst {limit.burst}"


def _per_second(rate: float) -> str:
    if rate >= 1:
        return f"{rate:g}/s"
    return f"{rate * 60:.3g}/min"


def _fresh(floor: timedelta | None) -> str:
    if floor is None:
        return "-"
    return "the clock" if not floor else f"{_span(floor)} before the clock"


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds == 0:
        return "0"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


# -- the pages ------------------------------------------------------------------------

#: Which page holds which generated block.
BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "config-keys": ("reference/config.md", config_keys),
    "channel-settings": ("reference/config.md", channel_settings),
    "hooks": ("reference/hooks.md", hooks),
    "metrics": ("reference/metrics.md", metrics),
    "limits": ("explanation/marketplace-limits.md", limits),
    "rate-limits": ("explanation/marketplace-limits.md", rate_limits),
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{re.escape(name)} -->\n)(.*?)(<!-- end generated:{re.escape(name)} -->)",
        re.DOTALL,
    )


def current(name: str) -> str:
    """Return the block ``name`` as the page holds it now."""
    page, _ = BLOCKS[name]
    match = _pattern(name).search((DOCS / page).read_text(encoding="utf-8"))
    if match is None:
        raise LookupError(f"docs/{page} has no generated:{name} block")
    return match.group(2)


def rendered(name: str) -> str:
    """Return the block ``name`` as the code says it should be."""
    _, render = BLOCKS[name]
    return "\n" + render() + "\n\n"


def write_all() -> list[str]:
    """Rewrite every generated block; return the pages that changed."""
    changed = []
    for name, (page, _) in BLOCKS.items():
        path = DOCS / page
        text = path.read_text(encoding="utf-8")
        block = rendered(name)
        new, count = _pattern(name).subn(lambda m, b=block: m.group(1) + b + m.group(3), text)
        if count != 1:
            raise LookupError(f"docs/{page} must hold exactly one generated:{name} block")
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(page)
    return list(dict.fromkeys(changed))


if __name__ == "__main__":
    pages = write_all()
    sys.stdout.write("".join(f"rewrote docs/{page}\n" for page in pages) or "up to date\n")
