"""``channelsync plugin new``: the skeleton installs and passes its own checks unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest
from click.testing import CliRunner

from channelsync._version import __version__
from channelsync.cli import plugin_cmd
from channelsync.cli.main import cli
from channelsync.cli.plugin_cmd import PluginNames, requirement_for

NAME = "acme_mall"
LONGEST = "abcdefghij_klmnopqrst_uv"

EXPECTED_FILES = {
    "README.md",
    "pyproject.toml",
    "channelsync_acme_mall/__init__.py",
    "channelsync_acme_mall/channel.py",
    "channelsync_acme_mall/fake.py",
    "channelsync_acme_mall/plugin.py",
    "channelsync_acme_mall/py.typed",
    "channelsync_acme_mall/signing.py",
    "channelsync_acme_mall/wire.py",
    "tests/conftest.py",
    "tests/test_contract.py",
    "tests/test_plugin.py",
    "tests/test_signing.py",
    "tests/test_stock.py",
}


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["plugin", "new", *args])
    return result.exit_code, result.output


def _environ(**env: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    environ.pop("PYTHONPATH", None)
    environ.update(env)
    return environ


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=_environ(**env), capture_output=True, text=True, timeout=120, check=False
    )


def _files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


@dataclass(frozen=True)
class Skeleton:
    root: Path
    mypy: subprocess.Popen[str]
    """Strict mypy on the skeleton, started at once: it is the slowest check."""


@pytest.fixture(scope="module")
def skeleton(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Skeleton]:
    target = tmp_path_factory.mktemp("new") / "acme"
    code, output = _new(NAME, "--dir", str(target), "--display-name", "Acme Mall")
    assert code == 0, output
    # pytest's cache keeps mypy's between runs; without it, mypy starts cold.
    cache = getattr(pytestconfig, "cache", None)
    cache_dir = cache.mkdir("plugin-template-mypy") if cache is not None else target / ".mypy_cache"
    mypy = subprocess.Popen(
        [sys.executable, "-m", "mypy", "--cache-dir", str(cache_dir)],
        cwd=target,
        env=_environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield Skeleton(target, mypy)
    finally:
        if mypy.poll() is None:
            mypy.kill()
        mypy.communicate()


@pytest.fixture
def rendered(skeleton: Skeleton) -> Path:
    return skeleton.root


# -- what it writes ---------------------------------------------------------------------


def test_it_writes_the_distribution_with_every_placeholder_filled(rendered: Path) -> None:
    assert _files(rendered) == EXPECTED_FILES
    for name in EXPECTED_FILES:
        text = (rendered / name).read_text(encoding="utf-8")
        assert "${" not in text, f"{name} has an unfilled placeholder"
    pyproject = (rendered / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "channelsync-acme-mall"' in pyproject
    assert '[project.entry-points.channelsync]\nacme_mall = "channelsync_acme_mall.plugin"' in (
        pyproject
    )
    assert f'"{requirement_for(__version__)}"' in pyproject
    channel = (rendered / "channelsync_acme_mall/channel.py").read_text(encoding="utf-8")
    assert 'type_name: ClassVar[str] = "acme_mall"' in channel
    assert 'display_name: ClassVar[str] = "Acme Mall"' in channel


def test_the_output_lists_the_files_and_the_next_steps(tmp_path: Path) -> None:
    code, output = _new("shopx", "--dir", str(tmp_path / "x"))
    assert code == 0, output
    assert "channelsync_shopx/channel.py" in output
    assert "pytest" in output


def test_the_default_folder_is_named_after_the_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output = _new("shop_x")
    assert code == 0, output
    assert (tmp_path / "channelsync-shop-x" / "channelsync_shop_x" / "channel.py").is_file()


def test_names_are_derived_for_every_use() -> None:
    names = PluginNames.of("acme_mall")
    assert names.package == "channelsync_acme_mall"
    assert names.distribution == "channelsync-acme-mall"
    assert names.class_prefix == "AcmeMall"
    assert names.const_prefix == "ACME_MALL"
    assert names.display_name == "Acme Mall"
    assert names.base_url == "https://api.acme-mall.example"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0.dev0", "channelsync>=0.1.0.dev0,<0.2"),
        ("0.4.2", "channelsync>=0.4.2,<0.5"),
        ("1.3.0", "channelsync>=1.3.0,<2"),
    ],
)
def test_the_requirement_stops_before_the_next_breaking_release(
    version: str, expected: str
) -> None:
    assert requirement_for(version) == expected


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Acme", "lower-case"),
        ("acme-mall", "'acme_mall'"),
        ("1shop", "starting with a letter"),
        ("acme__mall", "single underscores"),
        ("acme_", "single underscores"),
        ("channelsync_acme", "leave out the 'channelsync' prefix"),
        ("a" * 25, "at most 24 characters"),
        ("", "cannot name a plugin"),
    ],
)
def test_a_bad_name_is_a_usage_error_and_writes_nothing(
    tmp_path: Path, name: str, says: str
) -> None:
    code, output = _new(name, "--dir", str(tmp_path / "out"))
    assert code == 2
    assert says in output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("display", ['Acme "Mall"', "back\\slash", "line\nbreak", " ", "W" * 41])
def test_a_display_name_that_cannot_be_written_into_code_is_refused(
    tmp_path: Path, display: str
) -> None:
    code, output = _new("acme", "--dir", str(tmp_path / "out"), "--display-name", display)
    assert code == 2
    assert "display name" in output
    assert not (tmp_path / "out").exists()


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine", encoding="utf-8")
    code, output = _new("acme", "--dir", str(target))
    assert code == 2
    assert "already exists" in output
    assert _files(target) == {"keep.txt"}
    assert (target / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_an_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("mine", encoding="utf-8")
    code, _output = _new("acme", "--dir", str(target))
    assert code == 2
    assert target.read_text(encoding="utf-8") == "mine"


def test_an_empty_folder_is_filled(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    code, output = _new("acme", "--dir", str(target))
    assert code == 0, output
    assert (target / "channelsync_acme" / "plugin.py").is_file()


def test_a_failure_while_rendering_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = plugin_cmd._render_tree

    def failing(source: Traversable, target: Path, names: PluginNames) -> list[Path]:
        real(source, target, names)
        raise OSError("disk full")

    monkeypatch.setattr(plugin_cmd, "_render_tree", failing)
    with pytest.raises(OSError, match="disk full"):
        plugin_cmd.render_plugin(PluginNames.of("acme"), tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# -- it works as written ------------------------------------------------------------------


def test_it_passes_ruff_for_the_shortest_and_longest_names(rendered: Path, tmp_path: Path) -> None:
    longest = tmp_path / "longest"
    code, output = _new(LONGEST, "--dir", str(longest), "--display-name", "W" * 40)
    assert code == 0, output
    for root in (rendered, longest):
        for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
            done = _run([sys.executable, "-m", "ruff", *args], root)
            assert done.returncode == 0, f"ruff {args[0]} in {root.name}:\n{done.stdout}"


def test_it_installs_registers_and_passes_its_own_tests(rendered: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    install = _run(
        [
            sys.executable,
            *("-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--target", str(site), str(rendered)),
        ],
        tmp_path,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert (site / "channelsync_acme_mall" / "py.typed").is_file()

    # The installed copy, found through its entry point, as `channelsync plugins` finds it.
    discover = textwrap.dedent(
        """
        import json
        from channelsync.plugins import build_plugin_manager

        host = build_plugin_manager()
        info = next(p for p in host.plugins if "acme_mall" in p.channel_types)
        channel = host.registry.get("acme_mall")
        print(json.dumps({
            "distribution": info.distribution,
            "class": f"{channel.__module__}.{channel.__qualname__}",
            "failures": [f.name for f in host.failures],
        }))
        """
    )
    found = _run([sys.executable, "-c", discover], tmp_path, PYTHONPATH=str(site))
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    assert report["distribution"] == "channelsync-acme-mall"
    assert report["class"] == "channelsync_acme_mall.channel.AcmeMallChannel"
    assert "acme_mall" not in report["failures"]

    # Its own test suite, the channel contract included, against the installed copy
    # (-P keeps the source folder off sys.path).
    tests = _run(
        [sys.executable, "-P", "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"],
        rendered,
        PYTHONPATH=str(site),
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    passed = [line for line in tests.stdout.splitlines() if line.startswith("PASSED")]
    contract = [line for line in passed if "TestAcmeMallContract::test_promise[" in line]
    assert len(contract) >= 15, tests.stdout
    assert any("test_signing.py" in line for line in passed)
    assert any("test_stock.py" in line for line in passed)


def test_it_passes_strict_mypy(skeleton: Skeleton) -> None:
    output, _ = skeleton.mypy.communicate(timeout=120)
    assert skeleton.mypy.returncode == 0, output
    assert "Success: no issues found" in output
    assert "strict = true" in (skeleton.root / "pyproject.toml").read_text(encoding="utf-8")


def test_the_templates_ship_in_the_channelsync_wheel(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    built = _run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--no-index", "--wheel-dir", str(tmp_path), str(root)),
        ],
        tmp_path,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("channelsync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.startswith("channelsync/templates/")}
    templates = root / "channelsync" / "templates"
    expected = {
        f"channelsync/templates/{p.relative_to(templates).as_posix()}"
        for p in templates.rglob("*.tmpl")
    }
    assert expected
    assert shipped == expected
