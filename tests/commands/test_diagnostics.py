"""Diagnostics: one line by default, the stack on request, and a failed cell's stack kept in its result."""
from __future__ import annotations

import pytest

from conftest import recovery_config

from lvrbench.api.contracts import Cell, Job
from lvrbench.run.harness import execute_job
from lvrbench.run.store import validate_result


def deep_helper():
    raise ValueError("boom in the helper")


class Raises:
    def run(self, job, env):
        deep_helper()

    def validate(self, result):
        return []


class Env:
    registry = type("R", (), {"get": staticmethod(lambda kind, name: Raises()), "names": staticmethod(lambda kind: []),
                              "versions": staticmethod(lambda plugins: {})})()
    device = __import__("torch").device("cpu")


def test_a_failed_cell_stores_its_traceback_in_its_provenance():
    [r] = execute_job(Job("recovery-real", "raises", [Cell(recovery_config("recovery-real", "none", {"lr": 0.1}))]), Env())
    assert r["status"] == "failed" and r["error"] == "ValueError: boom in the helper"
    stack = r["provenance"]["traceback"]
    assert stack.startswith("Traceback (most recent call last):") and stack.endswith("ValueError: boom in the helper\n")
    assert "in deep_helper" in stack and "tests/commands/test_diagnostics.py" in stack
    assert validate_result(r) == []


@pytest.mark.parametrize("how", ["default", "--debug", "LVRBENCH_DEBUG=1", "LVRBENCH_DEBUG=0"])
def test_errors_are_one_line_unless_debug_adds_the_traceback(tmp_path, how, cli_here):
    args = ["leaderboard", "check", "--out", str(tmp_path / "missing")]
    env = {"LVRBENCH_DEBUG": how.split("=")[1]} if "=" in how else {"LVRBENCH_DEBUG": ""}
    code, _, err = cli_here(*(["--debug"] if how == "--debug" else []), *args, env=env)
    first, *rest = err.splitlines()
    assert code == 2 and first == f"lvrbench: error: --out {tmp_path / 'missing'}: no such directory"
    if how in ("--debug", "LVRBENCH_DEBUG=1"):
        assert rest[0] == "Traceback (most recent call last):" and rest[-1].startswith("lvrbench.base.errors.UsageError: --out ")
    else:
        assert rest == []


def test_a_bug_is_one_line_that_says_how_to_get_its_stack(capsys):
    from lvrbench.commands.cli import _error_line

    assert _error_line(KeyError("x")) == 1
    assert capsys.readouterr().err == ("lvrbench: internal error: KeyError: 'x' (run again with --debug or LVRBENCH_DEBUG=1 "
                                       "for the traceback, and report it)\n")
