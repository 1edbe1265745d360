"""A mutation harness for the channel contract: seeded plugin bugs the suite must catch.

A mutant is a bug a plugin author could plausibly write, expressed as exact text
substitutions in a copy of the Douyin example plugin's channel code (never its fake,
never the suite). Each substitution must match exactly as often as it says, so a
mutant whose code has moved on fails loudly instead of testing nothing. A mutant is
*caught* when at least one promise of the contract fails on the mutated copy.

Run as a script for the figures (every promise, or only the mutant's family)::

    python tests/contract/mutation.py            # family promises, as CI runs them
    python tests/contract/mutation.py --all      # the whole suite on every mutant
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from channelsync.clock import FakeClock
from channelsync.testing.contract import PROMISES, ChannelContract, Promise

REPO = Path(__file__).resolve().parents[2]
DOUYIN = REPO / "examples" / "plugins" / "douyin"
PACKAGE = "channelsync_douyin"
#: Seconds one mutant may take before it counts as hanging (and as caught).
WATCHDOG = 30


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` by ``new`` in ``path`` (in the package), exactly ``count`` times."""

    path: str
    old: str
    new: str
    count: int = 1


@dataclass(frozen=True)
class Mutant:
    """One seeded bug: its name, the promise family that must catch it, why it is plausible."""

    name: str
    family: str
    why: str
    edits: tuple[Edit, ...] = field(default_factory=tuple)


class EditDoesNotApply(AssertionError):
    """A mutant's substitution no longer matches the plugin's code."""


def apply(mutant: Mutant, package_dir: Path) -> None:
    """Apply every edit of ``mutant`` to the package copy in ``package_dir``."""
    for edit in mutant.edits:
        target = package_dir / edit.path
        text = target.read_text(encoding="utf-8")
        found = text.count(edit.old)
        if found != edit.count:
            raise EditDoesNotApply(
                f"mutant {mutant.name}: {edit.path} holds {found} copies of {edit.old!r}, "
                f"expected {edit.count}"
            )
        changed = text.replace(edit.old, edit.new)
        if changed == text:
            raise EditDoesNotApply(f"mutant {mutant.name}: an edit of {edit.path} changes nothing")
        target.write_text(changed, encoding="utf-8")


def copy_plugin(into: Path) -> Path:
    """Copy the Douyin package (code only) under ``into``; return the copy's import root."""
    root = into / "src"
    shutil.copytree(
        DOUYIN / PACKAGE,
        root / PACKAGE,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return root


@contextlib.contextmanager
def isolated(root: Path) -> Iterator[ModuleType]:
    """Import the package from ``root`` instead of the installed one, for the block only."""
    own = [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]
    saved = {name: sys.modules.pop(name) for name in own}
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(PACKAGE)
        loaded = Path(module.__file__ or "").resolve()
        if not loaded.is_relative_to(root.resolve()):
            raise AssertionError(f"{PACKAGE} was imported from {loaded}, not from the copy")
        yield module
    finally:
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        sys.path.remove(str(root))
        sys.modules.update(saved)
        importlib.invalidate_caches()


def contract_for(module: ModuleType) -> ChannelContract:
    """Return the contract test class of the (possibly mutated) Douyin plugin."""
    channel = importlib.import_module(f"{PACKAGE}.channel")
    fake = importlib.import_module(f"{PACKAGE}.fake")

    class DouyinContract(ChannelContract):
        channel_class = channel.DouyinChannel
        settings = fake.DEMO_SETTINGS
        credentials = fake.DEMO_CREDENTIALS

        def make_fake(self, clock: FakeClock) -> Any:
            return fake.demo_fake(clock=clock)

    del module  # imported for its side effect: the package is the copy
    return DouyinContract()


@contextlib.contextmanager
def _watchdog(seconds: int, what: str) -> Iterator[None]:
    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"{what} ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    """What the contract said about one mutant."""

    mutant: Mutant
    #: Promise name -> what broke it, for every promise that failed.
    broken: dict[str, str]
    checked: tuple[str, ...]

    @property
    def caught(self) -> bool:
        return bool(self.broken)


def run(
    mutant: Mutant | None,
    promises: Sequence[type[Promise]],
    *,
    stop_at_first: bool = True,
) -> Outcome:
    """Run ``promises`` on a copy of the plugin with ``mutant`` applied (``None``: unmutated)."""
    with tempfile.TemporaryDirectory(prefix="channelsync-mutant-") as scratch:
        root = copy_plugin(Path(scratch))
        if mutant is not None:
            apply(mutant, root / PACKAGE)
        name = mutant.name if mutant is not None else "unmutated"
        broken: dict[str, str] = {}
        checked: list[str] = []
        with isolated(root) as module, _watchdog(WATCHDOG, name):
            contract = contract_for(module)
            capabilities = contract.channel_class.capabilities()
            for promise in promises:
                if not promise.applies_to(capabilities):
                    continue
                checked.append(promise.__name__)
                observed = contract.violation(promise)
                if observed is not None:
                    broken[promise.__name__] = observed
                    if stop_at_first:
                        break
        outcome_mutant = mutant or Mutant("unmutated", "", "the plugin as it is")
        return Outcome(outcome_mutant, broken, tuple(checked))


def promises_of(family: str, families: dict[str, Sequence[str]]) -> list[type[Promise]]:
    """Return the promises that stand for ``family`` (names looked up in the suite)."""
    by_name = {promise.__name__: promise for promise in PROMISES}
    missing = [name for name in families[family] if name not in by_name]
    if missing:
        raise AssertionError(f"family {family}: the suite has no promise {missing}")
    return [by_name[name] for name in families[family]]


def report(
    mutants: Sequence[Mutant],
    choose: Callable[[Mutant], Sequence[type[Promise]]],
    out: Callable[[str], None],
) -> list[Outcome]:
    """Run every mutant against the promises ``choose`` picks; print one line each and totals."""
    started = time.perf_counter()
    outcomes = []
    for mutant in mutants:
        outcome = run(mutant, choose(mutant))
        outcomes.append(outcome)
        verdict = "caught by " + ", ".join(outcome.broken) if outcome.caught else "MISSED"
        out(f"{mutant.family:10} {mutant.name:42} {verdict}")
    elapsed = time.perf_counter() - started
    families = sorted({o.mutant.family for o in outcomes})
    for family in families:
        mine = [o for o in outcomes if o.mutant.family == family]
        out(f"{family:10} caught {sum(o.caught for o in mine)} of {len(mine)}")
    caught = sum(o.caught for o in outcomes)
    out(f"total      caught {caught} of {len(outcomes)} in {elapsed:.1f} s")
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="run the whole suite on each mutant")
    parser.add_argument("--family", help="only the mutants of this family")
    args = parser.parse_args(argv)
    # The checks provoke failures on purpose; their log lines are noise here.
    logging.disable(logging.CRITICAL)
    from .douyin_mutants import FAMILIES, MUTANTS  # noqa: PLC0415 - the data imports this module

    chosen = [m for m in MUTANTS if args.family in (None, m.family)]
    if args.all:
        outcomes = report(chosen, lambda _m: list(PROMISES), print)
    else:
        outcomes = report(chosen, lambda m: promises_of(m.family, FAMILIES), print)
    return 0 if all(o.caught for o in outcomes) else 1


if __name__ == "__main__":
    # Run as the package module, so the mutants' relative import finds this harness.
    sys.path.insert(0, str(REPO))
    raise SystemExit(importlib.import_module("tests.contract.mutation").main())
