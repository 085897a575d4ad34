"""Run the real `ragterm` entry point (with its one-line error handling) under click's CliRunner."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from click.testing import CliRunner


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def ragterm_cli():
    from ragterm.cli import cli
    from ragterm.cli.common import run_main

    def run(*args: str, input: str | None = None) -> CliResult:
        runner = CliRunner()
        with runner.isolation(input=input) as (out, err, _):
            code = run_main(cli, list(args))
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())

    return run
