"""Discovery of plugins through real entry points of a throwaway distribution on sys.path."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from channelsync.plugins import PluginHost, PluginInfo, build_plugin_manager

MODULES = ("cs_good_plugin", "cs_broken_plugin", "cs_typo_plugin", "cs_raising_plugin")

GOOD = """
    from __future__ import annotations

    from channelsync.channels import Channel, ChannelSettings
    from channelsync.plugins import hookimpl


    class GoodShopSettings(ChannelSettings):
        shop_id: int = 0


    class GoodShopChannel(Channel[GoodShopSettings]):
        type_name = "cs-good-shop"
        display_name = "Good shop"
        settings_model = GoodShopSettings
        credential_fields = ("app_secret",)


    @hookimpl
    def channelsync_register_channels(registry):
        registry.add(GoodShopChannel)
"""

BROKEN = """
    raise ImportError("cs_broken_plugin needs a library that is not installed")
"""

TYPO = """
    from channelsync.plugins import hookimpl


    @hookimpl
    def channelsync_register_chanels(registry):
        raise AssertionError("never called")
"""

RAISING = """
    from channelsync.plugins import hookimpl


    @hookimpl
    def channelsync_register_channels(registry):
        raise RuntimeError("cannot read its own data file")
"""


def _distribution(
    root: Path, dist: str, version: str, ep_name: str, module: str, code: str
) -> None:
    package = root / module
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(code), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        f"[channelsync]\n{ep_name} = {module}\n", encoding="utf-8"
    )


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    _distribution(root, "cs-good-plugin", "1.2.3", "cs-good", "cs_good_plugin", GOOD)
    _distribution(root, "cs-broken-plugin", "0.1.0", "cs-broken", "cs_broken_plugin", BROKEN)
    _distribution(root, "cs-typo-plugin", "0.2.0", "cs-typo", "cs_typo_plugin", TYPO)
    _distribution(root, "cs-raising-plugin", "0.3.0", "cs-raising", "cs_raising_plugin", RAISING)
    return root


@pytest.fixture
def on_path(site_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("CHANNELSYNC_DISABLE_PLUGIN_AUTOLOAD", "CHANNELSYNC_BLOCKED_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.syspath_prepend(str(site_dir))
    yield site_dir
    for module in MODULES:
        sys.modules.pop(module, None)


def _ours(host: PluginHost) -> tuple[dict[str, PluginInfo], dict[str, str]]:
    plugins = {p.name: p for p in host.plugins if p.name.startswith("cs-")}
    failures = {f.name: f.reason for f in host.failures if f.name.startswith("cs-")}
    return plugins, failures


@pytest.mark.usefixtures("on_path")
def test_entry_points_are_discovered_and_faults_isolated() -> None:
    host = build_plugin_manager()

    plugins, _ = _ours(host)
    assert list(plugins) == ["cs-good"]
    good = host.plugins[[p.name for p in host.plugins].index("cs-good")]
    assert good.distribution == "cs-good-plugin"
    assert good.version == "1.2.3"
    assert good.channel_types == ("cs-good-shop",)
    assert good.builtin is False
    assert host.registry.get("cs-good-shop").display_name == "Good shop"
    assert host.registry.provider("cs-good-shop") == "cs-good"

    failures = {f.name: f for f in host.failures if f.name.startswith("cs-")}
    assert set(failures) == {"cs-broken", "cs-typo", "cs-raising"}

    broken = failures["cs-broken"]
    assert (broken.distribution, broken.version) == ("cs-broken-plugin", "0.1.0")
    assert broken.reason.startswith("import failed: ImportError")
    assert "not installed" in broken.reason

    typo = failures["cs-typo"]
    assert (typo.distribution, typo.version) == ("cs-typo-plugin", "0.2.0")
    assert "channelsync_register_chanels" in typo.reason
    assert host.manager.get_plugin("cs-typo") is None

    raising = failures["cs-raising"]
    assert raising.reason == (
        "channelsync_register_channels failed: RuntimeError: cannot read its own data file"
    )
    assert host.manager.get_plugin("cs-raising") is None


@pytest.mark.usefixtures("on_path")
def test_failures_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="channelsync.plugins"):
        build_plugin_manager()

    messages = [r.getMessage() for r in caplog.records if "cs-" in r.getMessage()]
    assert any("'cs-broken' (cs-broken-plugin 0.1.0) was not loaded" in m for m in messages)
    assert any("'cs-typo'" in m for m in messages)


@pytest.mark.usefixtures("on_path")
def test_autoload_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNELSYNC_DISABLE_PLUGIN_AUTOLOAD", "1")

    off = build_plugin_manager()
    assert _ours(off) == ({}, {})
    assert "cs_good_plugin" not in sys.modules

    forced = build_plugin_manager(autoload=True)
    assert "cs-good-shop" in forced.registry


@pytest.mark.usefixtures("on_path")
def test_blocked_entry_points_are_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHANNELSYNC_BLOCKED_PLUGINS", "cs-good,cs-broken")

    host = build_plugin_manager(blocked=["cs-typo"])

    plugins, failures = _ours(host)
    assert plugins == {}
    assert set(failures) == {"cs-raising"}
    assert "cs-good-shop" not in host.registry
    assert "cs_good_plugin" not in sys.modules
    assert {"cs-good", "cs-broken", "cs-typo"} <= set(host.blocked)
