from __future__ import annotations

import types

import channelsync


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(channelsync).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # the __future__ import
    }
    assert set(channelsync.__all__) - {"__version__"} == public
    assert len(channelsync.__all__) == len(set(channelsync.__all__))


def test_every_exported_name_resolves() -> None:
    for name in channelsync.__all__:
        assert getattr(channelsync, name) is not None
