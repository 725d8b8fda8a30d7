"""The generated references cannot drift: docs/reference/cli.md and config.md are what scripts/reference writes from
the parser and the config schema now, and `rot90 train --print-config` writes a config that loads back equal."""

import tomllib
from pathlib import Path

from rot90.cli import cli_reference, config_reference, main
from rot90.config import from_dict, load, reference

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"


def test_the_cli_reference_is_current():
    assert (DOCS / "cli.md").read_text() == cli_reference(), "run scripts/reference and commit docs/reference"


def test_the_config_reference_is_current():
    assert (DOCS / "config.md").read_text() == config_reference(), "run scripts/reference and commit docs/reference"


def test_every_key_is_in_the_reference_with_what_it_does():
    rows = reference()
    assert len({r["key"] for r in rows}) == len(rows) >= 60
    assert all(r["about"] for r in rows), [r["key"] for r in rows if not r["about"]]


def test_print_config_round_trips(tmp_path, capsys):
    assert main(["train", "recurrent-nmt", "--out", str(tmp_path / "x"), "--set", "model.hidden=128",
                 "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert from_dict(tomllib.loads(printed)) == load("recurrent-nmt", ["model.hidden=128"])
    assert not (tmp_path / "x").exists()
