from __future__ import annotations

import pytest

from channelsync.channels import DetailCache


def test_a_value_is_answered_only_at_its_version() -> None:
    cache: DetailCache[str] = DetailCache()
    cache.put("T1", "2026-11-11 00:00:01", "first read")
    assert cache.get("T1", "2026-11-11 00:00:01") == "first read"
    assert cache.get("T1", "2026-11-11 00:00:02") is None  # modified since
    assert cache.get("T2", "2026-11-11 00:00:01") is None
    assert cache.hits == 1


def test_without_a_version_nothing_is_kept_or_answered() -> None:
    cache: DetailCache[str] = DetailCache()
    cache.put("T1", None, "unversioned")
    assert len(cache) == 0
    assert cache.get("T1", None) is None


def test_the_least_recently_used_key_goes_first() -> None:
    cache: DetailCache[int] = DetailCache(size=2)
    cache.put("a", "1", 1)
    cache.put("b", "1", 2)
    assert cache.get("a", "1") == 1  # "b" is now the oldest
    cache.put("c", "1", 3)
    assert len(cache) == 2
    assert cache.get("b", "1") is None
    assert cache.get("a", "1") == 1
    assert cache.get("c", "1") == 3


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        DetailCache(size=0)
