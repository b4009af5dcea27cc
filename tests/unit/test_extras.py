"""pyproject.toml's extras and groups ask only for what exists, and install what the docs run."""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Iterator
from importlib import metadata
from itertools import dropwhile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]


def requirements_with_extras() -> Iterator[tuple[str, Requirement]]:
    """Yield (where, requirement) for each requirement of the project that names extras."""
    listed = {
        "dependencies": PYPROJECT["project"]["dependencies"],
        **{f"extra {name}": items for name, items in EXTRAS.items()},
        **{f"group {name}": items for name, items in PYPROJECT["dependency-groups"].items()},
    }
    for where, items in listed.items():
        for item in items:
            if isinstance(item, str) and (requirement := Requirement(item)).extras:
                yield where, requirement


@pytest.mark.parametrize(
    ("where", "requirement"),
    list(requirements_with_extras()),
    ids=lambda value: str(value),
)
def test_every_extra_asked_of_a_dependency_is_one_it_provides(
    where: str, requirement: Requirement
) -> None:
    """aiobotocore[boto3] fails this: aiobotocore 3.x provides no boto3 extra (pip warns)."""
    try:
        installed = metadata.distribution(requirement.name)
    except metadata.PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed here; nothing to read its extras from")
    provided = {canonicalize_name(extra) for extra in installed.metadata.get_all("Provides-Extra")}

    missing = {canonicalize_name(extra) for extra in requirement.extras} - provided
    assert not missing, (
        f"{where} asks {requirement} for {sorted(missing)}; {requirement.name} "
        f"{installed.version} provides {sorted(provided)}"
    )


def run_block(readme: str) -> list[list[str]]:
    """Return the commands of the code block of the README's "Run it", as argument lists.

    Variable assignments before a command (``MELANGE_ENV=local``) are left out.
    """
    section = readme.partition("## Run it")[2]
    block = re.search(r"^```\w*\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert block is not None, "the README's Run it section has a code block"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    commands = [shlex.split(line) for line in lines if line.strip()]
    return [list(dropwhile(lambda word: re.match(r"^\w+=", word), words)) for words in commands]


def test_the_fastapi_example_s_install_line_installs_what_its_run_steps_start() -> None:
    """The extras the README installs hold uvicorn, which its second terminal runs."""
    readme = (REPO_ROOT / "examples" / "fastapi_app" / "README.md").read_text()
    install = re.search(r'`pip install -e "\.\[([\w,]+)\]"`', readme)
    assert install is not None, "the README names the extras to install"
    installed = {
        canonicalize_name(Requirement(item).name)
        for extra in install.group(1).split(",")
        for item in EXTRAS[extra]
    }
    programs = {words[0] for words in run_block(readme)} - {"python", "curl"}

    assert programs == {"uvicorn"}
    assert programs <= installed, f"{sorted(programs - installed)} installed by no extra named"
