"""The result schema file: a valid JSON Schema, read by `validate_result` the way a standard validator reads it."""
from __future__ import annotations

import copy

import jsonschema
import pytest

from conftest import est

from conftest import ok_result

from lvrbench.api.contracts import Cell, CellOutcome
from lvrbench.run.harness import to_result
from lvrbench.api.contracts import NAME
from lvrbench.run.store import SCHEMA_PATH, result_schema, schema_problems


def failed_result() -> dict:
    return to_result(Cell(ok_result()["config"]), CellOutcome(error="boom"), {"git_dirty": None})


EDITS = {
    "valid": lambda r: None,
    "schema 2": lambda r: r.update(schema=2),
    "no id": lambda r: r.pop("id"),
    "id upper case": lambda r: r.update(id=r["id"].upper()),
    "status unknown": lambda r: r.update(status="done"),
    "config a list": lambda r: r.update(config=[]),
    "config lacks seed": lambda r: r["config"].pop("seed"),
    "task not a name": lambda r: r["config"].update(task="Recovery Real"),
    "task with a newline": lambda r: r["config"].update(task="recovery-real\n"),
    "profile unknown": lambda r: r["config"].update(profile="medium"),
    "hparam name": lambda r: r["config"]["hparams"].update(LR=1.0),
    "hparam text": lambda r: r["config"]["hparams"].update(lr="1"),
    "seed text": lambda r: r["config"].update(seed="0"),
    "code core not an object": lambda r: r["config"]["code"].update(core=3),
    "code revision zero": lambda r: r["config"]["code"]["core"].update(recovery=0),
    "code plugin a version string": lambda r: r["config"]["code"].update(task="lvrbench 0.4.0"),
    "provenance list": lambda r: r.update(provenance=[]),
    "git_dirty text": lambda r: r["provenance"].update(git_dirty="yes"),
    "no metrics": lambda r: r.pop("metrics"),
    "empty metrics": lambda r: r.update(metrics={}),
    "bare metric": lambda r: r["metrics"].update(accuracy=0.5),
    "metric extra field": lambda r: r["metrics"]["accuracy"].update(sd=0.1),
    "negative n": lambda r: r["metrics"].update(accuracy=est(0.5, -1)),
    "artifact not an object": lambda r: r["artifacts"].update(evaluator="k"),
    "artifact key number": lambda r: r["artifacts"]["evaluator"].update(key=3),
    "extra a list": lambda r: r.update(extra=[]),
}


def test_the_schema_file_is_a_valid_json_schema_and_names_are_the_registrys():
    jsonschema.Draft202012Validator.check_schema(result_schema())
    assert result_schema()["$defs"]["name"]["pattern"] == f"^{NAME.pattern}$"
    assert SCHEMA_PATH.name == "result.schema.json" and SCHEMA_PATH.parent.name == "run"  # shipped as package data


OK_ONLY = {"no metrics", "bare metric", "metric extra field", "negative n", "artifact not an object", "artifact key number"}


@pytest.mark.parametrize("case, make", [(c, ok_result) for c in sorted(EDITS)] +
                         [(c, failed_result) for c in sorted(EDITS) if c not in OK_ONLY])
def test_the_small_validator_agrees_with_a_standard_one(case, make):
    document = copy.deepcopy(make())
    EDITS[case](document)
    standard = jsonschema.Draft202012Validator(result_schema()).is_valid(document)
    if case == "task with a newline":
        standard = False  # ECMA-262's $ ends the string; Python's re would take a final newline: ours matches whole
    assert (schema_problems(result_schema(), document) == []) == standard
    if make is ok_result:
        assert standard == (case == "valid")


def test_a_failed_result_needs_its_reason_and_nothing_else():
    failed = failed_result()
    assert schema_problems(result_schema(), failed) == []
    del failed["error"]
    assert schema_problems(result_schema(), failed) == [("error", "error must be a failed cell's reason, a non-empty string")]
