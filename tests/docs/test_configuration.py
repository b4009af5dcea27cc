"""The Configuration page: its programs print what it shows, and its claims hold."""

from __future__ import annotations

import html
import os
import runpy
import traceback
from pathlib import Path

import pytest

from melange.app.cli import main
from melange.exceptions import ConfigurationError
from melange.settings import SETTINGS, load_settings
from melange_bindings import MelangeBindingSpec, new_object_graph
from tests.docs.run_snippets import ROOT, page, run_snippet, shown_output, unset_melange_variables


@pytest.fixture(autouse=True)
def fixture_fresh_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test from the repository, without MELANGE_* variables, as a fresh shell."""
    unset_melange_variables(monkeypatch)
    monkeypatch.chdir(ROOT)  # config/ is found in the working directory


@pytest.mark.parametrize("snippet", ["configuration/load.py", "configuration/problems.py"])
def test_the_programs_print_what_the_page_shows(
    snippet: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """load.py and problems.py print exactly their .out files, which the page includes."""
    run_snippet(snippet)

    assert capsys.readouterr().out == shown_output(snippet)


@pytest.mark.parametrize(
    ("env", "backend"), [("local", "local"), ("test", "memory"), ("production", "aws")]
)
def test_the_environment_files_shown_load(env: str, backend: str, tmp_path: Path) -> None:
    """config/local.env, config/test.env and production.env.example are valid settings."""
    for source in (ROOT / "config").iterdir():
        (tmp_path / source.name.removesuffix(".example")).write_text(source.read_text())

    settings = load_settings(env, environ={}, config_dir=tmp_path)

    assert settings.backend == backend
    assert settings.env == env


def test_an_empty_variable_hides_the_files_value() -> None:
    """MELANGE_PREFIX= (set, empty) with MELANGE_ENV=local means no prefix, not dev-."""
    assert load_settings("local", environ={}).prefix == "dev-"
    assert load_settings("local", environ={"MELANGE_PREFIX": ""}).prefix == ""


def test_a_missing_environment_file_names_the_files_there_are() -> None:
    """MELANGE_ENV naming no file is a ConfigurationError listing the available ones."""
    with pytest.raises(ConfigurationError, match=r"choose one of \['local', 'test'\]"):
        load_settings(environ={"MELANGE_ENV": "staging"})


def test_wrong_settings_fail_when_the_graph_is_built() -> None:
    """new_object_graph itself fails on wrong settings, its traceback ending in load_settings."""
    spec = MelangeBindingSpec(environ={"MELANGE_WORKERS": "many"})

    with pytest.raises(ConfigurationError, match="MELANGE_WORKERS='many' is not an integer") as e:
        new_object_graph(melange=spec)

    assert "load_settings" in [frame.name for frame in traceback.extract_tb(e.value.__traceback__)]
    assert "pinject" not in "".join(traceback.format_tb(e.value.__traceback__))


def test_the_command_prints_the_wrong_settings_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command, with MELANGE_BACKEND=sqs, prints the page's lines and returns 1."""
    monkeypatch.setenv("MELANGE_BACKEND", "sqs")

    code = main(["declare", "examples.orders:graph"])

    printed = capsys.readouterr().err
    assert code == 1
    assert printed == (
        "melange: melange settings are wrong:\n"
        "  MELANGE_BACKEND='sqs' is not one of aws, local, memory\n"
    )
    assert printed in page("configuration.md")


def test_aws_region_comes_from_the_file_and_other_aws_lines_do_not_reach_boto3(
    tmp_path: Path,
) -> None:
    """AWS_REGION in a file sets the region; its AWS_ACCESS_KEY_ID stays out of os.environ."""
    (tmp_path / "staging.env").write_text(
        "MELANGE_BACKEND=aws\nAWS_REGION=eu-central-1\nAWS_ACCESS_KEY_ID=AKIAFROMAFILE\n"
    )
    before = dict(os.environ)

    settings = load_settings("staging", environ={}, config_dir=tmp_path)

    assert settings.region == "eu-central-1"
    assert dict(os.environ) == before


def test_a_redis_password_is_masked_in_the_settings_repr() -> None:
    """The settings' repr shows *** where MELANGE_REDIS_URL has its password."""
    url = "redis://:s3cret@cache.internal:6379/0"

    settings = load_settings(environ={"MELANGE_REDIS_URL": url})

    assert settings.redis_url == url
    assert "s3cret" not in repr(settings)
    assert "redis://:***@cache.internal:6379/0" in repr(settings)


def test_the_page_keeps_the_generated_settings_table() -> None:
    """The page has the marker the build hook replaces with a row per setting."""
    hooks = runpy.run_path(str(ROOT / "docs" / "hooks.py"))

    built = hooks["on_page_markdown"](page("configuration.md"))

    assert "<!-- settings-table -->" not in built
    for setting in SETTINGS:
        shown = setting.variable.replace("_", "_<wbr>")
        assert f">{shown}</code> | {html.escape(setting.meaning)}<br>" in built
    assert "a name with a config/&lt;name&gt;.env file" in built  # not an HTML tag
