"""Pinned digests that catch a forgotten revision bump.

A cell's identity holds the revisions of the code that computed it (`Plugin.revision`, each numeric core module's
`REVISION`), so a change that alters numbers without a bump would publish new numbers under old cell ids. Here each
plugin and each core module runs a tiny seeded computation on one thread (a regularizer's loss, a resampler's step,
a family's few training iterations, a sampler's draws, a dataset's fingerprint, one cell a task computes (its config
pinned beside its digest, so that the task's plan may change), a recovery, FID, ...) and its digest is pinned next
to its revision in a JSON file. `check` fails when a digest changed while the revision did not ("bump the
revision"), or a revision changed while its pin did not ("update the pin"); `python -m lvrbench.testing.pins
--update` rewrites the pins of one distribution once the bumps are made.

Digests are of float bits, so they hold for one CPU code path and torch version: the file records both, and a check
on another is skipped with that reason.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch

from ..api.contracts import KINDS, Pretrained, Regularizer
from ..base.errors import UsageError, one_line
from ..base.hashing import canonical_json
from ..run.registry import Registry, load_registry
from . import tiny

#: The first-party pins, beside the plugins they pin (package data of `lvrbench_plugins`).
BUILTIN_PINS = Path(importlib.util.find_spec("lvrbench_plugins").origin).parent / "revisions.json"
SEED = 20261206


def _digest(*values: Any) -> str:
    h = hashlib.sha256()
    for v in values:
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(f"{t.dtype} {tuple(t.shape)};".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(v, dict) and all(isinstance(x, torch.Tensor) for x in v.values()):
            for key in sorted(v):
                h.update(key.encode())
                h.update(_digest(v[key]).encode())
        else:
            h.update(canonical_json(v).encode())
    return h.hexdigest()[:16]


def _without_code(value: Any, keys: tuple[str, ...] = ("code",)) -> Any:
    """`value` without the entries named `keys` at any depth: revisions (and artifact keys, hashes of specs that
    hold them), which a probe's numbers must not depend on."""
    if isinstance(value, dict):
        return {k: _without_code(v, keys) for k, v in value.items() if k not in keys}
    return [_without_code(v, keys) for v in value] if isinstance(value, list) else value


class Probes:
    """The tiny computations, sharing tiny generators and data within one run."""

    def __init__(self, registry: Registry, cache_dir: Path):
        self.registry, self.cache_dir = registry, cache_dir
        self._data: dict = {}
        self._gans: dict = {}

    def data(self, dataset: str, split: str = "train", n: int | None = None):
        if (dataset, split) not in self._data:
            self._data[(dataset, split)] = self.registry.get("datasets", dataset).load(split, None)
        x, y = self._data[(dataset, split)]
        return (x, y) if n is None else (x[:n], y[:n])

    def gan(self, family: str):
        if family not in self._gans:
            self._gans[family] = tiny.tiny_gan(self.registry, family, None, SEED, self.data)
        return self._gans[family]

    def method(self, obj) -> str:
        from .conformance import CONCRETE, MethodCall, grid_rows, latents, realness_family

        out = []
        for prior in CONCRETE:
            if not obj.supports(prior):
                continue
            gan = None
            if isinstance(obj, Regularizer) and (obj.needs_generated or obj.needs_discriminator):
                gan = self.gan(realness_family(self.registry))
            call = MethodCall(obj, prior, grid_rows(obj), gan)
            z = latents(prior, len(call.rows), SEED)
            out.append(call(z, seed=SEED))
        return _digest(*out)

    def family(self, obj) -> str:
        dataset = tiny.dataset_for(self.registry, obj)
        nets = tiny.build(obj, self.registry.get("datasets", dataset).info, SEED)
        x, _ = self.data(dataset, "train", 4 * tiny.settings(obj).batch_size)
        tiny.train(obj, nets, x, 4, SEED)
        return _digest(nets.state_dict())

    def sampler(self, obj) -> str:
        from .conformance import draw_samples

        family = "vanilla" if "vanilla" in self.registry.names("families") else self.registry.names("families")[0]
        gan = self.gan(family)
        held_out, _ = self.data(tiny.dataset_for(self.registry, gan.family), "test", 64)
        samples, stats, _ = draw_samples(obj, gan, 16, SEED, held_out)
        return _digest(samples, stats)

    def dataset(self, obj) -> str:
        return obj.fingerprint(None)

    def generator(self, obj) -> str:
        from ..run.pretrained import load_pretrained

        nets, digest = load_pretrained(self.registry, obj)
        with torch.no_grad():
            return _digest(digest, nets["G"](obj.latent_prior().sample(4, torch.Generator().manual_seed(SEED))))

    def task_cell(self, obj) -> dict:
        """The config a task's probe computes (revisions left out): the first cell of its first job on points of the
        quick profile's plan (of its first profile where it has no quick one)."""
        from ..run.harness import PlanRequest

        profile = "quick" if "quick" in obj.profiles else obj.profiles[0]
        jobs = obj.plan(PlanRequest(self.registry, profile=profile))
        modality = lambda j: self.registry.get("datasets", j.cells[0].config["dataset"]).modality  # noqa: E731
        return min(jobs, key=lambda j: modality(j) != "points").cells[0].config

    def task(self, obj, config: dict) -> str:
        """The digest of what a task computes for the cell `config`. Only numbers are digested, never the plan: a plan
        that changes (a profile's sizes) plans other configs, which are other cells under other ids, and needs no bump."""
        from ..api.contracts import Cell, Job

        env = tiny.TinyEnv(self.registry, self.cache_dir)
        outcome = obj.run(Job(obj.name, f"pin {obj.name}", [Cell(config)]), env)[0]
        extra = json.loads(json.dumps(outcome.extra))
        for path in obj.timings:  # wall seconds: no computation reproduces them
            parts = path.split(".")
            if parts[0] == "extra":
                node = extra
                for part in parts[1:-1]:
                    node = node.get(part, {}) if isinstance(node, dict) else {}
                if isinstance(node, dict):
                    node.pop(parts[-1], None)
        # what `verify` compares: metrics, extra and artifacts (what a result records of its networks: their
        # training's numbers and checks), each artifact's key aside
        return _digest(outcome.metrics, _without_code(extra), _without_code(outcome.artifacts, ("code", "key")))


KIND_PROBES: dict[str, Callable[[Probes, Any], str]] = {
    "regularizers": Probes.method, "resamplers": Probes.method, "families": Probes.family, "samplers": Probes.sampler,
    "datasets": Probes.dataset, "generators": Probes.generator}  # tasks: `compute` probes them on their pinned cell


def core_probes(probes: Probes) -> dict[str, Callable[[], str]]:
    """A tiny seeded computation through each numeric core module (`lvrbench.run.harness.CORE_MODULES`)."""
    from ..api import distances, estimates, networks, priors
    from ..engine import evaluator, recovery, sampling, scoring

    g = lambda: torch.Generator().manual_seed(SEED)  # noqa: E731
    gan = lambda: probes.gan("vanilla")  # noqa: E731

    def recovered():
        out = recovery.recover(gan().nets["G"], gan().sample(4, g(), torch.device("cpu")), gan().prior,
                               probes.registry.method("none"), [{"lr": 0.1}], steps=5, init=None,
                               latent_dim=gan().latent_dim, seed=SEED, desc="pin")
        return _digest(out.z, out.diff)

    def sampled():
        from .conformance import draw_samples

        held_out, _ = probes.data(tiny.dataset_for(probes.registry, gan().family), "test", 64)
        drs = probes.registry.get("samplers", "drs") if "drs" in probes.registry.names("samplers") else None
        return _digest(*(draw_samples(drs, gan(), 8, SEED, held_out)[:2] if drs else ()),
                       sampling.fit_logistic(torch.randn(50, generator=g()), torch.randn(50, generator=g()) - 1))

    def scored():
        a, b = torch.randn(200, 4, generator=g()), torch.randn(200, 4, generator=g()) + 0.5
        pr = scoring.precision_recall(a, b)
        return _digest(scoring.fid_bootstrap(a, b, g(), n_boot=20).to_dict(), [p.to_dict() for p in pr],
                       scoring.mode_coverage(b[:, :2], torch.zeros(2, 2), 1.0, g(), n_boot=20)["coverage"].to_dict())

    def estimated():
        v = torch.rand(100, generator=g())
        return _digest(estimates.bootstrap_mean(v, g()).to_dict(), estimates.wilson_interval(0.3, 40).to_dict(),
                       estimates.paired_proportion_difference(v > 0.5, v > 0.4).to_dict())

    def trained():
        return probes.family(probes.registry.get("families", "vanilla"))

    def classified():
        data = probes.registry.get("datasets", "ring8").info  # points: the identity evaluator, then a tiny classifier
        from ..api.datainfo import DataInfo

        outputs = []
        for arch in sorted(evaluator.ARCHS):  # every classifier architecture an evaluator spec may name
            net = evaluator.ARCHS[arch](DataInfo("probe", "image", (1, 8, 8), 3))
            networks.init_parameters(net, g())
            outputs.append(net(torch.randn(2, 1, 8, 8, generator=g())))
        return _digest(data.shape, *outputs)

    def built():
        nets = tiny.build(probes.registry.get("families", "vanilla"), probes.registry.get("datasets", "ring8").info, SEED)
        return _digest(nets.state_dict())

    return {"distances": lambda: _digest(*(d.fn(torch.randn(3, 50, generator=g()), torch.randn(3, 50, generator=g()))
                                             for d in distances.DISTANCES.values())),
            "estimates": estimated, "evaluator": classified, "networks": built,
            "priors": lambda: _digest(*(p.with_dim(4).sample(3, g()) for p in priors.PRIORS.values())),
            "recovery": recovered, "sampling": sampled, "scoring": scored, "training": trained}


def task_pin(probes: Probes, task, pin: dict | None) -> tuple[str | None, dict]:
    """A task's digest and what its pin records beside it: {"config"} (the pinned cell's where `pin` names one, else
    the one its plan probes now), and {"error"} where the installed task no longer computes a pinned cell."""
    current = probes.task_cell(task)
    config = (pin or {}).get("config") or _without_code(current)
    try:
        return probes.task(task, {**config, "code": current["code"]}), {"config": config}
    except Exception as exc:
        if not (pin or {}).get("config"):
            raise  # the cell its plan gives now: a bug, not a stale pin
        return None, {"config": config, "error": one_line(exc)}


def compute(registry: Registry, distribution: str, cache_dir: Path, pinned: dict | None = None) -> dict[str, dict]:
    """{"kind/name": {"revision", "digest"}} for every plugin of `distribution` (and "core/<module>" for lvrbench); a
    task's also holds "config", the cell its digest is of: the pinned one where `pinned` has it (so that a change of
    the task's plan never reads as a change of its numbers), else the one its plan probes now."""
    from ..run.harness import core_revisions

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        probes, out = Probes(registry, cache_dir), {}
        if distribution == "lvrbench":
            revisions = core_revisions()
            for name, probe in core_probes(probes).items():
                out[f"core/{name}"] = {"revision": revisions[name], "digest": probe()}
        for kind in KINDS:
            for entry in registry.entries(kind):
                if entry.distribution != distribution or isinstance(entry.obj, Pretrained) and kind != "generators":
                    continue
                name, extra = f"{kind}/{entry.name}", {}
                try:  # a dataset whose files are not on this machine (MNIST here) has no digest to pin
                    if kind == "tasks":
                        digest, extra = task_pin(probes, entry.obj, (pinned or {}).get(name))
                    else:
                        digest = KIND_PROBES[kind](probes, entry.obj)
                except UsageError:
                    digest = None
                out[name] = {"revision": entry.obj.revision, "digest": digest, **extra}
        return dict(sorted(out.items()))
    finally:
        torch.set_num_threads(previous)


def environment() -> dict[str, str]:
    """What digests hold for: the CPU code path and torch's version."""
    return {"cpu": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__}


def check(pinned: dict, now: dict) -> list[str]:
    """Each forgotten bump or stale pin, one line each (empty: every digest is what its revision pins)."""
    problems = []
    for name in sorted(pinned.keys() | now.keys()):
        old, new = pinned.get(name), now.get(name)
        if old is None:
            problems.append(f"{name}: no pin (revision {new['revision']}); run python -m lvrbench.testing.pins --update")
        elif new is None:
            problems.append(f"{name}: pinned but no longer registered; run python -m lvrbench.testing.pins --update")
        elif new.get("error"):
            problems.append(f"{name}: its pinned cell cannot be computed any more ({new['error']}); if its plan changed, "
                            "run python -m lvrbench.testing.pins --update")
        elif None in (old["digest"], new["digest"]) and new["revision"] == old["revision"]:
            continue  # not computable on one side (its data is missing): the revision alone is compared
        elif new["revision"] == old["revision"] and new["digest"] != old["digest"]:
            problems.append(f"{name}: its numbers changed (digest {new['digest']}, pinned {old['digest']}) but its "
                            f"revision is still {old['revision']}: bump the revision, then update the pin")
        elif new["revision"] != old["revision"] and new["digest"] == old["digest"]:
            problems.append(f"{name}: revision {new['revision']} (pinned {old['revision']}) but its numbers did not "
                            "change: a bump re-keys every cell it computed, so keep the old revision")
        elif new["revision"] != old["revision"]:
            problems.append(f"{name}: revision {new['revision']} is not pinned yet (pinned {old['revision']}); run "
                            "python -m lvrbench.testing.pins --update")
    return problems


def main(argv: list[str] | None = None) -> int:
    """`python -m lvrbench.testing.pins [--dist NAME] [--file PATH] [--update]`: check (or rewrite) a pin file."""
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m lvrbench.testing.pins", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dist", default="lvrbench", help="the distribution whose plugins are pinned")
    parser.add_argument("--file", type=Path, default=None, help=f"the pin file [default for lvrbench: {BUILTIN_PINS}]")
    parser.add_argument("--update", action="store_true", help="rewrite the pins from this machine's digests")
    args = parser.parse_args(argv)
    path = args.file or BUILTIN_PINS
    pinned = None if args.update or not path.exists() else json.loads(path.read_text())["pins"]
    with tempfile.TemporaryDirectory() as cache:
        now = compute(load_registry(strict=False), args.dist, Path(cache), pinned)
    if args.update:
        path.write_text(json.dumps({**environment(), "pins": now}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(now)} pins to {path}")
        return 0
    problems = check(json.loads(path.read_text())["pins"], now)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
