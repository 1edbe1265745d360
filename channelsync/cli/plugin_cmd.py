"""``channelsync plugin new``: write a new channel plugin distribution to start from.

The skeleton is rendered from ``channelsync/templates/plugin/`` (package data) with
:class:`string.Template`: the templates only substitute names, so a templating
language with loops and conditions would add a dependency and nothing else, and
``$``-placeholders cannot be mistaken for Python, TOML or Markdown syntax. A template
file ``x.py.tmpl`` becomes ``x.py``; the ``package`` folder becomes the plugin's
package. The suffix keeps the templates out of the repository's own lint, type check
and test runs.
"""

from __future__ import annotations

import re
import shutil
import string
import tempfile
from dataclasses import asdict, dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from channelsync._version import __version__

__all__ = [
    "PluginNames",
    "check_display_name",
    "check_name",
    "plugin_group",
    "render_plugin",
    "requirement_for",
]

#: Lower-case letters and digits in words joined by single underscores.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_NAME_LENGTH = 24
MAX_DISPLAY_NAME_LENGTH = 40
TEMPLATE_SUFFIX = ".tmpl"
#: The template folder that becomes the plugin's package.
PACKAGE_FOLDER = "package"


@dataclass(frozen=True)
class PluginNames:
    """Every name the skeleton derives from the plugin's ``NAME``."""

    name: str
    """The channel type and entry-point name (``acme_mall``)."""
    package: str
    """The import package (``channelsync_acme_mall``)."""
    distribution: str
    """The distribution to publish (``channelsync-acme-mall``)."""
    class_prefix: str
    """The prefix of the class names (``AcmeMall``)."""
    const_prefix: str
    """The prefix of module constants (``ACME_MALL``)."""
    display_name: str
    """What people read (``Acme Mall``)."""
    base_url: str
    """A placeholder gateway under the reserved ``.example`` domain."""
    requirement: str
    """The channelsync requirement (``channelsync>=0.1.0,<0.2``)."""

    @classmethod
    def of(cls, name: str, display_name: str | None = None) -> PluginNames:
        """Derive the names from a valid ``name`` (see :func:`check_name`)."""
        words = name.split("_")
        return cls(
            name=name,
            package=f"channelsync_{name}",
            distribution=f"channelsync-{name.replace('_', '-')}",
            class_prefix="".join(word.capitalize() for word in words),
            const_prefix=name.upper(),
            display_name=display_name or " ".join(word.capitalize() for word in words),
            base_url=f"https://api.{name.replace('_', '-')}.example",
            requirement=requirement_for(__version__),
        )


def _suggestion(name: str) -> str | None:
    guess = re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")
    guess = re.sub(r"^(channelsync_)+", "", guess)
    guess = re.sub(r"^[0-9_]+", "", guess)
    return guess if guess and guess != name and NAME_PATTERN.fullmatch(guess) else None


def check_name(name: str) -> str:
    """Return ``name`` if it can name a plugin; raise ``ValueError`` saying why not."""
    problem = None
    if name.startswith(("channelsync_", "channelsync-")):
        problem = "leave out the 'channelsync' prefix: it is added to the package name"
    elif not NAME_PATTERN.fullmatch(name):
        problem = (
            "use lower-case letters and digits, starting with a letter, in words joined "
            "by single underscores"
        )
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"use at most {MAX_NAME_LENGTH} characters"
    if problem is None:
        return name
    suggestion = _suggestion(name)
    hint = f" (for example {suggestion!r})" if suggestion else ""
    raise ValueError(f"{name!r} cannot name a plugin: {problem}{hint}")


def check_display_name(text: str) -> str:
    """Return ``text`` if it can be written into code and docs as it is."""
    if not text.strip():
        raise ValueError("the display name is empty")
    if len(text) > MAX_DISPLAY_NAME_LENGTH:
        raise ValueError(f"the display name has more than {MAX_DISPLAY_NAME_LENGTH} characters")
    if any(char in '"\\' or not char.isprintable() for char in text):
        raise ValueError(
            f"{text!r}: the display name cannot hold quotes, backslashes or control characters"
        )
    return text.strip()


def requirement_for(version: str) -> str:
    """Return the channelsync requirement for a plugin written against ``version``.

    A plugin may break on the next minor release while channelsync is 0.x and on the
    next major release after that, so the requirement stops short of it.
    """
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        return f"channelsync>={version}"
    major, minor = int(match[1]), int(match[2])
    ceiling = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"channelsync>={version},<{ceiling}"


def _template_root() -> Traversable:
    return files("channelsync").joinpath("templates", "plugin")


def _render_tree(source: Traversable, target: Path, names: PluginNames) -> list[Path]:
    values = asdict(names)
    written: list[Path] = []
    for entry in sorted(source.iterdir(), key=lambda e: e.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            folder = target / (names.package if entry.name == PACKAGE_FOLDER else entry.name)
            folder.mkdir()
            written.extend(_render_tree(entry, folder, names))
            continue
        if not entry.name.endswith(TEMPLATE_SUFFIX):
            continue
        text = string.Template(entry.read_text(encoding="utf-8")).substitute(values)
        path = target / entry.name.removesuffix(TEMPLATE_SUFFIX)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def render_plugin(names: PluginNames, target: Path) -> list[Path]:
    """Write the plugin skeleton into ``target``, which must not exist or be empty.

    The files are rendered into a temporary sibling folder first and moved into place
    at the end, so a failure leaves nothing half-written. Returns the files written,
    relative to ``target``.
    """
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"{target} already exists and is not an empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        written = _render_tree(_template_root(), staging, names)
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [path.relative_to(staging) for path in written]


@click.group("plugin")
def plugin_group() -> None:
    """Tools for writing channel plugins."""


def _name_argument(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_name(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


def _display_name_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> str | None:
    if value is None:
        return None
    try:
        return check_display_name(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@plugin_group.command("new")
@click.argument("name", callback=_name_argument)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to create (default: ./channelsync-NAME); it must not exist or be empty.",
)
@click.option(
    "--display-name",
    default=None,
    callback=_display_name_option,
    help="The marketplace's name as people read it (default: from NAME).",
)
def new_command(name: str, directory: Path | None, display_name: str | None) -> None:
    """Write a new channel plugin distribution named channelsync-NAME.

    It has the entry point, a channel class with its settings and limits, a fake of
    the marketplace's API, and tests that pass as generated, the channel contract
    among them.
    """
    names = PluginNames.of(name, display_name)
    target = directory if directory is not None else Path(names.distribution)
    try:
        written = render_plugin(names, target)
    except FileExistsError as error:
        raise click.BadParameter(
            f"{error}; choose another folder, or remove it first", param_hint="'--dir'"
        ) from None
    click.echo(f"Wrote {names.distribution} ({len(written)} files) to {target}:")
    for path in written:
        click.echo(f"  {path.as_posix()}")
    click.echo(
        "\nNext:\n"
        f"  cd {target}\n"
        '  pip install -e ".[test]"\n'
        "  pytest && ruff check . && mypy\n"
        "Then make the fake speak your marketplace's API (see README.md)."
    )
