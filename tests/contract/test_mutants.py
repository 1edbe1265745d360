"""The contract catches every seeded bug of the Douyin example, each through its own promise.

Each mutant (``douyin_mutants.py``) is applied to a copy of the plugin in a temporary
directory; the promises of its family must fail on the copy. The unmutated copy must
keep them all, so a failure is the bug's and not the harness's.
"""

from __future__ import annotations

import logging

import pytest

from .douyin_mutants import FAMILIES, MUTANTS
from .mutation import Edit, EditDoesNotApply, Mutant, apply, copy_plugin, promises_of, run


@pytest.fixture(autouse=True)
def _quiet_logs(caplog: pytest.LogCaptureFixture) -> None:
    # The checks provoke refusals on purpose; keep their log lines out of the report.
    caplog.set_level(logging.CRITICAL)


def test_every_family_has_ten_mutants() -> None:
    for family in FAMILIES:
        assert sum(m.family == family for m in MUTANTS) >= 10, family
    assert {m.family for m in MUTANTS} == set(FAMILIES)
    assert len({m.name for m in MUTANTS}) == len(MUTANTS)


def test_the_unmutated_plugin_keeps_every_family_promise() -> None:
    every = [promise for family in FAMILIES for promise in promises_of(family, FAMILIES)]
    outcome = run(None, every, stop_at_first=False)
    assert outcome.checked == tuple(p.__name__ for p in every)
    assert not outcome.broken


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.family}:{m.name}")
def test_the_contract_catches_the_mutant(mutant: Mutant) -> None:
    outcome = run(mutant, promises_of(mutant.family, FAMILIES))
    assert outcome.caught, (
        f"the contract missed the seeded bug {mutant.name} ({mutant.why}); the promises "
        f"{', '.join(outcome.checked)} all passed"
    )


def test_an_edit_that_no_longer_matches_fails_loudly(tmp_path: pytest.TempPathFactory) -> None:
    root = copy_plugin(tmp_path)  # type: ignore[arg-type]
    stale = Mutant("stale", "paging", "", (Edit("channel.py", "no such code\n", "x\n"),))
    with pytest.raises(EditDoesNotApply, match="0 copies"):
        apply(stale, root / "channelsync_douyin")
