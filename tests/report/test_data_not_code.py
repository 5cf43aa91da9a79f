"""A result file or artifact from a pull request is data: never unpickled, never executed."""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from conftest import ok_result

from lvrbench.base.identity import cell_id
from lvrbench.run.store import ResultStore


class Payload:
    """Unpickling this runs a shell command that leaves `marker` behind: the proof that something was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_result_that_is_a_pickle_or_carries_one_is_never_unpickled(registry, tmp_path, cli_here):
    root, marker = tmp_path / "root", tmp_path / "executed"
    store = ResultStore(root)
    carrier = ok_result()  # a valid result whose extra holds a pickle and a __reduce__-style object
    carrier["extra"]["pickle"] = pickle.dumps(Payload(marker), protocol=0).decode("latin-1")
    carrier["extra"]["object"] = {"py/reduce": [{"py/function": "os.system"}, {"py/tuple": [f"touch {marker}"]}],
                                  "__reduce__": ["os.system", [f"touch {marker}"]]}
    carrier["config"]["settings"]["steps"] = 10**7  # and a config no planner gives: `verify` refuses it, computes nothing
    carrier["id"] = cell_id(carrier["config"])
    good = store.write(carrier)
    pickled = good.parent / ("0" * 16 + ".json")
    pickled.write_bytes(pickle.dumps(Payload(marker)))
    weights = good.parent / "weights.pt"
    weights.write_bytes(pickle.dumps({"G.0.weight": Payload(marker)}))
    code, _, err = cli_here("leaderboard", "check", "--out", str(root))
    assert code == 1 and not marker.exists()
    assert f"lvrbench: {pickled}: not valid JSON (" in err
    assert f"lvrbench: {weights}: is not a result file: results/ holds only results/<task>/<cell id>.json" in err
    for args in (("leaderboard", "build", "--out", str(root)), ("verify", str(pickled)), ("verify", str(good)),
                 ("run", "--task", "recovery-real", "--dry-run", "--out", str(root))):
        code, _, err = cli_here(*args, env={"LVRBENCH_CACHE_DIR": str(tmp_path / "cache")})
        assert code == 2 and "Traceback" not in err and not marker.exists(), (args, err)
    assert json.loads(good.read_text())["extra"]["object"]["__reduce__"][0] == "os.system"  # still just data
