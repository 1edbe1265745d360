"""Building the plugin manager and the typed facade the rest of channelsync calls.

:func:`build_plugin_manager` is the only place plugins are loaded; nothing happens at
import time. It

1. adds the hook specifications (:mod:`channelsync.plugins.hookspecs`);
2. registers the built-in plugins (:mod:`channelsync.builtin`);
3. registers ``extra_plugins`` passed by the caller;
4. loads every entry point of the ``channelsync`` group itself, one at a time, unless
   autoloading is off; entry points on the block list are skipped;
5. calls each plugin's ``channelsync_register_channels`` on its own, with the registry
   scoped to that plugin.

A plugin that fails (its import raises, an implementation has a wrong signature or
an unknown ``channelsync_*`` name, or its registration hook raises) is unloaded and
recorded as a :class:`PluginFailure` with its name, distribution, version and
reason, and logged on the ``channelsync.plugins`` logger; the other plugins still
load.

Environment variables, read when :func:`build_plugin_manager` is called:

``CHANNELSYNC_DISABLE_PLUGIN_AUTOLOAD``
    ``1`` (or ``true``/``yes``/``on``) skips entry-point loading; the ``autoload``
    argument overrides it when given.
``CHANNELSYNC_BLOCKED_PLUGINS``
    comma-separated plugin names (entry-point names, or ``builtin.pricing`` and
    ``builtin.alerts``) that are never loaded; added to the ``blocked`` argument.
``CHANNELSYNC_TRACE_PLUGINS``
    ``1`` logs every hook call at ``DEBUG`` on ``channelsync.plugins``: the hook, the
    implementing plugins, the argument names and the result type. Argument values
    are never logged.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from channelsync._version import __version__
from channelsync.errors import PluginError
from channelsync.models import Money
from channelsync.plugins import hookspecs
from channelsync.plugins._markers import ENTRY_POINT_GROUP, PROJECT_NAME
from channelsync.plugins.registry import ChannelRegistry

if TYPE_CHECKING:
    from channelsync.models import Order, OrderStatus
    from channelsync.plugins.context import LowStockAlert, PriceContext

__all__ = [
    "AUTOLOAD_ENV",
    "BLOCKED_ENV",
    "TRACE_ENV",
    "PluginFailure",
    "PluginHost",
    "PluginInfo",
    "build_plugin_manager",
]

#: Set to ``1`` to skip loading plugins from entry points.
AUTOLOAD_ENV = "CHANNELSYNC_DISABLE_PLUGIN_AUTOLOAD"
#: Comma-separated plugin names never to load.
BLOCKED_ENV = "CHANNELSYNC_BLOCKED_PLUGINS"
#: Set to ``1`` to log every hook call (without argument values).
TRACE_ENV = "CHANNELSYNC_TRACE_PLUGINS"

logger = logging.getLogger("channelsync.plugins")

_TRUE = frozenset({"1", "true", "yes", "on"})
_REGISTER_HOOK = "channelsync_register_channels"


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A loaded plugin and what it provides."""

    name: str
    """The plugin name: the entry-point name, or ``builtin.*`` for built-in plugins."""
    distribution: str | None
    """The distribution that installed it (``None`` for plugins passed in code)."""
    version: str | None
    """The distribution's version."""
    channel_types: tuple[str, ...]
    """The channel type names it registered, sorted."""
    builtin: bool
    """Whether it ships with channelsync."""


@dataclass(frozen=True, slots=True)
class PluginFailure:
    """A plugin that could not be loaded, and why."""

    name: str
    distribution: str | None
    version: str | None
    reason: str
    """What went wrong, starting with the stage (import, validation, registration)."""


@dataclass(slots=True)
class _Loaded:
    name: str
    plugin: object
    distribution: str | None
    version: str | None
    builtin: bool


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.hookwrapper or impl.wrapper)


class PluginHost:
    """The typed face of the plugin manager: one method per hook.

    Engine and CLI code call these methods, never ``manager.hook`` directly, so hook
    results are checked here (pluggy does not check implementations' types).
    """

    def __init__(self, manager: pluggy.PluginManager, registry: ChannelRegistry) -> None:
        self._manager = manager
        self._registry = registry
        self._loaded: dict[str, _Loaded] = {}
        self._failures: list[PluginFailure] = []
        self._blocked: tuple[str, ...] = ()
        self._trace = False

    @property
    def manager(self) -> pluggy.PluginManager:
        """The underlying pluggy plugin manager."""
        return self._manager

    @property
    def registry(self) -> ChannelRegistry:
        """The channel types the loaded plugins registered."""
        return self._registry

    @property
    def plugins(self) -> list[PluginInfo]:
        """The loaded plugins, in load order (built-in ones first)."""
        return [
            PluginInfo(
                name=loaded.name,
                distribution=loaded.distribution,
                version=loaded.version,
                channel_types=self._registry.types_of(loaded.name),
                builtin=loaded.builtin,
            )
            for loaded in self._loaded.values()
        ]

    @property
    def failures(self) -> list[PluginFailure]:
        """The plugins that failed to load, in the order they were tried."""
        return list(self._failures)

    @property
    def blocked(self) -> tuple[str, ...]:
        """The plugin names on the block list, sorted."""
        return self._blocked

    def implements(self, hook_name: str, *, builtin: bool = True) -> bool:
        """Whether a loaded plugin implements the hook ``hook_name`` (``channelsync_…``).

        For callers with work to do around a call that nobody would receive (the
        engine reads and records each imported order for ``channelsync_order_imported``).
        ``builtin=False`` counts only plugins that are not built in (the built-in price
        rule publishes the price unchanged).
        """
        impls = self._impls(hook_name)
        if not builtin:
            impls = [
                impl
                for impl in impls
                if not (found := self._loaded.get(impl.plugin_name)) or not found.builtin
            ]
        return bool(impls)

    # -- hooks ---------------------------------------------------------------------------

    def adjust_price(self, context: PriceContext, price: Money) -> Money:
        """Return the price to publish: the first price rule's answer, else ``price``.

        Raises :class:`~channelsync.errors.PluginError` when a rule answers with
        something other than :class:`~channelsync.models.Money` or changes the currency.
        """
        result = self._manager.hook.channelsync_adjust_price(context=context, price=price)
        if result is None:
            return price
        if not isinstance(result, Money):
            raise PluginError(
                f"a channelsync_adjust_price implementation returned {type(result).__name__}, "
                "not Money"
            )
        if result.currency != price.currency:
            raise PluginError(
                "a channelsync_adjust_price implementation changed the currency from "
                f"{price.currency} to {result.currency}"
            )
        return result

    async def order_imported(self, order: Order, previous_status: OrderStatus | None) -> None:
        """Call every ``channelsync_order_imported`` implementation, awaiting awaitables.

        Implementations run one after the other in hook order. One that raises is
        logged with its plugin name and the others still run.
        """
        kwargs = {"order": order, "previous_status": previous_status}
        for impl in self._impls("channelsync_order_imported"):
            try:
                result = self._call(impl, kwargs)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception(
                    "plugin %r failed in channelsync_order_imported for order %s/%s",
                    impl.plugin_name,
                    order.channel,
                    order.order_id,
                )

    def low_stock(self, alert: LowStockAlert) -> None:
        """Call every ``channelsync_low_stock`` implementation.

        One that raises is logged with its plugin name and the others still run. An
        implementation must be synchronous; an awaitable it returns is discarded and
        logged as an error.
        """
        for impl in self._impls("channelsync_low_stock"):
            try:
                result = self._call(impl, {"alert": alert})
            except Exception:
                logger.exception(
                    "plugin %r failed in channelsync_low_stock for %s",
                    impl.plugin_name,
                    alert.merchant_code,
                )
                continue
            if inspect.isawaitable(result):
                close = getattr(result, "close", None)
                if callable(close):
                    close()
                logger.error(
                    "plugin %r returned an awaitable from channelsync_low_stock, which "
                    "must be synchronous; it was not run",
                    impl.plugin_name,
                )

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        caller: pluggy.HookCaller = getattr(self._manager.hook, hook_name)
        # get_hookimpls() is in reverse call order; wrappers do not apply to these calls.
        return [impl for impl in reversed(caller.get_hookimpls()) if not _is_wrapper(impl)]

    def _call(self, impl: pluggy.HookImpl, kwargs: Mapping[str, object]) -> object:
        if self._trace:
            logger.debug("hook call %s by %r", impl.function.__name__, impl.plugin_name)
        return impl.function(*(kwargs[name] for name in impl.argnames))

    # -- loading -------------------------------------------------------------------------

    def _register(
        self,
        plugin: object,
        name: str,
        *,
        distribution: str | None,
        version: str | None,
        builtin: bool,
    ) -> bool:
        if self._manager.is_blocked(name):
            logger.info("plugin %r is blocked and was not loaded", name)
            return False
        try:
            self._manager.register(plugin, name=name)
            self._manager.check_pending()
        except Exception as exc:
            if builtin:
                raise
            if self._manager.get_plugin(name) is plugin:
                self._manager.unregister(plugin, name=name)
            self._fail(name, distribution, version, f"invalid plugin: {_describe(exc)}", exc)
            return False
        self._loaded[name] = _Loaded(name, plugin, distribution, version, builtin)
        return True

    def _load_entry_point(self, ep: EntryPoint) -> None:
        dist = ep.dist
        distribution = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        if self._manager.is_blocked(ep.name):
            logger.info("plugin %r (%s) is blocked and was not loaded", ep.name, distribution)
            return
        previous = self._loaded.get(ep.name)
        if previous is not None:
            if previous.distribution == distribution:
                return  # the same distribution seen twice on sys.path
            self._fail(
                ep.name,
                distribution,
                version,
                f"plugin name already used by {previous.distribution or 'another plugin'}",
            )
            return
        try:
            plugin = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import-time error is recorded and logged
            self._fail(ep.name, distribution, version, f"import failed: {_describe(exc)}", exc)
            return
        self._register(plugin, ep.name, distribution=distribution, version=version, builtin=False)

    def _register_channels(self) -> None:
        for loaded in list(self._loaded.values()):
            impls = [
                impl
                for impl in self._manager.hook.channelsync_register_channels.get_hookimpls()
                if impl.plugin is loaded.plugin and not _is_wrapper(impl)
            ]
            scoped = self._registry.scoped(loaded.name)
            try:
                for impl in impls:
                    self._call(impl, {"registry": scoped})
            except Exception as exc:
                if loaded.builtin:
                    raise
                self._registry.remove_provider(loaded.name)
                self._manager.unregister(loaded.plugin, name=loaded.name)
                del self._loaded[loaded.name]
                self._fail(
                    loaded.name,
                    loaded.distribution,
                    loaded.version,
                    f"{_REGISTER_HOOK} failed: {_describe(exc)}",
                    exc,
                )

    def _fail(
        self,
        name: str,
        distribution: str | None,
        version: str | None,
        reason: str,
        exc: BaseException | None = None,
    ) -> None:
        self._failures.append(PluginFailure(name, distribution, version, reason))
        origin = " ".join(part for part in (distribution, version) if part) or "no distribution"
        logger.warning("plugin %r (%s) was not loaded: %s", name, origin, reason)
        if exc is not None:
            logger.debug("traceback of the failure of plugin %r", name, exc_info=exc)

    def __repr__(self) -> str:
        names = ", ".join(self._loaded)
        return f"<{type(self).__name__} plugins=[{names}] failures={len(self._failures)}>"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def _extra_name(plugin: object, taken: Iterable[str]) -> str:
    base = getattr(plugin, "__name__", None)
    if not isinstance(base, str) or not base:
        base = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
    used = set(taken)
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}#{n}"
    return name


def _builtin_plugins() -> Sequence[tuple[str, ModuleType]]:
    from channelsync.builtin import BUILTIN_PLUGINS  # noqa: PLC0415 - avoids an import cycle

    return [(name, importlib.import_module(module)) for name, module in BUILTIN_PLUGINS]


def _trace_hook_calls(manager: pluggy.PluginManager) -> Callable[[], None]:
    def before(
        hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
    ) -> None:
        logger.debug(
            "hook %s -> %s (arguments: %s)",
            hook_name,
            [impl.plugin_name for impl in hook_impls],
            ", ".join(sorted(kwargs)),
        )

    def after(
        outcome: pluggy.Result[Any],
        hook_name: str,
        hook_impls: Sequence[pluggy.HookImpl],
        kwargs: Mapping[str, Any],
    ) -> None:
        exc = outcome.exception
        if exc is not None:
            logger.debug("hook %s raised %s", hook_name, type(exc).__name__)
        else:
            logger.debug("hook %s returned %s", hook_name, type(outcome.get_result()).__name__)

    return manager.add_hookcall_monitoring(before, after)


def build_plugin_manager(
    *,
    autoload: bool | None = None,
    blocked: Iterable[str] = (),
    extra_plugins: Iterable[object] = (),
) -> PluginHost:
    """Build the plugin manager: hook specs, built-in plugins, extra plugins, entry points.

    :param autoload: load plugins from ``channelsync`` entry points; ``None`` means
        yes unless ``CHANNELSYNC_DISABLE_PLUGIN_AUTOLOAD`` is set.
    :param blocked: plugin names never to load, in addition to those in
        ``CHANNELSYNC_BLOCKED_PLUGINS``.
    :param extra_plugins: plugin objects (modules, classes or instances with
        ``channelsync_*`` hook implementations) to register before the entry points;
        each is named by its ``__name__`` or its class's qualified name.
    :return: the :class:`PluginHost` facade; plugins that failed to load are listed in
        its ``failures``.
    """
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    host = PluginHost(manager, ChannelRegistry())

    blocked_names = {name.strip() for name in blocked if name.strip()}
    blocked_names.update(
        name.strip() for name in os.environ.get(BLOCKED_ENV, "").split(",") if name.strip()
    )
    for name in sorted(blocked_names):
        manager.set_blocked(name)
    host._blocked = tuple(sorted(blocked_names))

    if _env_flag(TRACE_ENV):
        _trace_hook_calls(manager)
        host._trace = True
        manager.trace.root.setwriter(lambda message: logger.debug("%s", message.rstrip()))

    for name, module in _builtin_plugins():
        host._register(module, name, distribution=PROJECT_NAME, version=__version__, builtin=True)

    for plugin in extra_plugins:
        name = _extra_name(plugin, (n for n, _ in manager.list_name_plugin()))
        host._register(plugin, name, distribution=None, version=None, builtin=False)

    if autoload is None:
        autoload = not _env_flag(AUTOLOAD_ENV)
    if autoload:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            host._load_entry_point(ep)

    host._register_channels()
    return host
