"""A kit's components in the store: read by kit and by component, replaced, listed.

Every test runs on SQLite and on PostgreSQL (marker ``postgres``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channelsync.store import KitComponent, SkuData, Store
from channelsync.store.sql._common import CHUNK

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _skus(store: Store, *codes: str) -> dict[str, int]:
    with store.transaction() as s:
        return s.upsert_skus(
            [SkuData(code, None, code.title(), "1.00", "CNY") for code in codes], NOW
        )


def _cleared(store: Store) -> None:
    """Clear every SKU's changed mark (a new SKU is marked changed)."""
    with store.transaction() as s:
        s.clear_changed(s.changed_skus())


def test_components_of_lists_each_kits_components_by_merchant_code(store: Store) -> None:
    ids = _skus(store, "GIFT", "PACK", "TEAPOT", "CUP", "ALONE")
    with store.transaction() as s:
        # Given out of code order: the answer is by merchant code.
        s.set_components(ids["GIFT"], [(ids["TEAPOT"], 1), (ids["CUP"], 4)])
        s.set_components(ids["PACK"], [(ids["CUP"], 3)])
    with store.transaction() as s:
        found = s.components_of([ids["GIFT"], ids["PACK"], ids["ALONE"], ids["CUP"]])
    assert found == {
        ids["GIFT"]: (KitComponent(ids["CUP"], "CUP", 4), KitComponent(ids["TEAPOT"], "TEAPOT", 1)),
        ids["PACK"]: (KitComponent(ids["CUP"], "CUP", 3),),
    }
    with store.transaction() as s:
        assert s.components_of([]) == {}


def test_kits_using_maps_each_used_component_to_its_kits(store: Store) -> None:
    ids = _skus(store, "GIFT", "PACK", "TEAPOT", "CUP", "SPOON")
    with store.transaction() as s:
        s.set_components(ids["PACK"], [(ids["CUP"], 3)])
        s.set_components(ids["GIFT"], [(ids["TEAPOT"], 1), (ids["CUP"], 4)])
    with store.transaction() as s:
        found = s.kits_using([ids["CUP"], ids["TEAPOT"], ids["SPOON"], ids["GIFT"]])
    assert found == {
        ids["CUP"]: tuple(sorted((ids["GIFT"], ids["PACK"]))),
        ids["TEAPOT"]: (ids["GIFT"],),
    }


def test_set_components_replaces_and_says_whether_anything_changed(store: Store) -> None:
    ids = _skus(store, "GIFT", "TEAPOT", "CUP", "SAUCER")
    with store.transaction() as s:
        assert s.set_components(ids["GIFT"], [(ids["TEAPOT"], 1), (ids["CUP"], 4)]) is True
    with store.transaction() as s:
        # The same list in another order is no change.
        assert s.set_components(ids["GIFT"], [(ids["CUP"], 4), (ids["TEAPOT"], 1)]) is False
        assert s.set_components(ids["GIFT"], [(ids["CUP"], 6), (ids["SAUCER"], 1)]) is True
    with store.transaction() as s:
        assert s.components_of([ids["GIFT"]]) == {
            ids["GIFT"]: (
                KitComponent(ids["CUP"], "CUP", 6),
                KitComponent(ids["SAUCER"], "SAUCER", 1),
            )
        }
        assert s.kits_using([ids["TEAPOT"]]) == {}


def test_set_components_marks_the_kit_changed_only_when_it_changed(store: Store) -> None:
    ids = _skus(store, "GIFT", "TEAPOT", "CUP")
    with store.transaction() as s:
        s.set_components(ids["GIFT"], [(ids["TEAPOT"], 1)])
    _cleared(store)
    with store.transaction() as s:
        s.set_components(ids["GIFT"], [(ids["TEAPOT"], 1)])
        assert s.changed_skus() == []
        s.set_components(ids["GIFT"], [(ids["TEAPOT"], 2)])
        # The kit is replanned; its components' stock did not change.
        assert s.changed_skus() == [ids["GIFT"]]


def test_an_empty_list_makes_a_kit_a_plain_sku(store: Store) -> None:
    ids = _skus(store, "GIFT", "CUP")
    with store.transaction() as s:
        s.set_components(ids["GIFT"], [(ids["CUP"], 2)])
    with store.transaction() as s:
        assert s.set_components(ids["GIFT"], []) is True
        assert s.set_components(ids["GIFT"], []) is False
        assert s.components_of([ids["GIFT"]]) == {}
        assert s.kit_ids() == []


@pytest.mark.parametrize(
    ("components", "message"),
    [
        ([("CUP", 0)], "quantity 0 < 1"),
        ([("CUP", 1), ("CUP", 2)], "listed twice"),
        ([("GIFT", 1)], "component of itself"),
    ],
)
def test_set_components_refuses_what_no_kit_can_be(
    store: Store, components: list[tuple[str, int]], message: str
) -> None:
    ids = _skus(store, "GIFT", "CUP")
    with pytest.raises(ValueError, match=message), store.transaction() as s:
        s.set_components(ids["GIFT"], [(ids[code], q) for code, q in components])
    with store.transaction() as s:
        assert s.kit_ids() == []


def test_kit_ids_lists_every_kit_once_ascending(store: Store) -> None:
    ids = _skus(store, "A-KIT", "B-KIT", "CUP", "TEAPOT")
    with store.transaction() as s:
        assert s.kit_ids() == []
        s.set_components(ids["B-KIT"], [(ids["CUP"], 1), (ids["TEAPOT"], 1)])
        s.set_components(ids["A-KIT"], [(ids["CUP"], 2)])
    with store.transaction() as s:
        assert s.kit_ids() == sorted((ids["A-KIT"], ids["B-KIT"]))


def test_has_kits_says_whether_any_kit_exists(store: Store) -> None:
    ids = _skus(store, "A-KIT", "CUP")
    with store.transaction() as s:
        assert not s.has_kits()
        s.set_components(ids["A-KIT"], [(ids["CUP"], 3)])
        assert s.has_kits()
        s.set_components(ids["A-KIT"], [])
        assert not s.has_kits()


def test_reads_over_more_ids_than_one_in_list_holds(store: Store) -> None:
    count = CHUNK + 5
    kits = [f"KIT-{i:04d}" for i in range(count)]
    parts = [f"PART-{i:04d}" for i in range(count)]
    ids = _skus(store, *kits, *parts)
    with store.transaction() as s:
        for kit, part in zip(kits, parts, strict=True):
            s.set_components(ids[kit], [(ids[part], 2)])
    with store.transaction() as s:
        found = s.components_of(ids[k] for k in kits)
        using = s.kits_using(ids[p] for p in parts)
        every = s.kit_ids()
    assert len(found) == count
    assert found[ids[kits[-1]]] == (KitComponent(ids[parts[-1]], parts[-1], 2),)
    assert using == {ids[p]: (ids[k],) for k, p in zip(kits, parts, strict=True)}
    assert every == sorted(ids[k] for k in kits)
