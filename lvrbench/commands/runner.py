"""`lvrbench run`: plan the grid, refuse bad input up front, compute what is missing, publish."""
from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base.files import user_cache_dir
from ..base.errors import PluginError, UsageError
from ..run.harness import Plan, PlanRequest, make_plan
from ..api.contracts import Task

from ..report.pages import build, refusal, refuse_target, root_problems
from ..base.progress import count, say
from ..base.provenance import code_state, tree_moved
from ..api.contracts import METHOD_KINDS
from ..run.registry import Registry, unknown_name
from ..base.identity import PROFILES
from ..run.store import ResultStore

if TYPE_CHECKING:
    import torch

DEFAULT_ROOT = Path("leaderboards")


def default_root(profile: str) -> Path:
    """Each profile's own root, leaderboards/<profile>/: published (standard, full) and quick output never mix."""
    return DEFAULT_ROOT / profile


@dataclass
class RunOptions:
    """Everything `lvrbench run` was asked for."""

    run_all: bool = False
    tasks: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    generators: tuple[str, ...] = ()
    checkpoints: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    priors: tuple[str, ...] = ()
    profile: str = "quick"
    device: str = "auto"
    seeds: tuple[int, ...] = (0,)
    overrides: tuple[str, ...] = ()
    out: str | None = None
    cache_dir: str | None = None
    data_dir: str | None = None
    dry_run: bool = False
    force: bool = False
    #: "inprocess", "local" (a process pool) or "ray"; None: the device's default (`default_executor`).
    executor: str | None = None
    #: Worker processes of `local` (default: this machine's cores), or Ray tasks in flight at once (default: as many
    #: as the cluster's CPUs allow).
    jobs: int | None = None
    ray_address: str | None = None


def parse_overrides(items: tuple[str, ...]) -> dict[str, tuple[float, ...]]:
    """`--set NAME=V1,V2` options as {name: values}; anything else is a one-line UsageError."""
    out: dict[str, tuple[float, ...]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise UsageError(f"--set {item!r}: expected NAME=VALUE[,VALUE...], e.g. --set weight=0.1,1")
        try:
            parsed = tuple(float(v) for v in values.split(","))
        except ValueError:
            raise UsageError(f"--set {item!r}: values must be numbers") from None
        bad = [v for v in parsed if not math.isfinite(v)]
        if bad:
            raise UsageError(f"--set {item!r}: {name} must be finite, got {bad[0]}")
        if name in out:
            raise UsageError(f"--set {name} is given twice; list every value in one --set {name}=V1,V2")
        out[name] = tuple(dict.fromkeys(parsed))
    return out


def resolve_device(name: str) -> torch.device:
    """--device as a torch device; cuda without a CUDA device is a UsageError."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return torch.device(name)


EXECUTORS = ("inprocess", "local", "ray")


def default_executor(device: torch.device) -> str:
    """`local` on the CPU (a pool of one-thread workers, as many as the cores); `inprocess` on a GPU, which one
    process keeps busy."""
    return "local" if device.type == "cpu" else "inprocess"


def check_executor(opts: RunOptions) -> None:
    """Refuse, before any work, executor options that contradict one another or need what is not installed."""
    if opts.executor is not None and opts.executor not in EXECUTORS:
        raise UsageError(f"--executor {opts.executor}: unknown (choose from {', '.join(EXECUTORS)})")
    if opts.jobs is not None and opts.jobs < 1:
        raise UsageError(f"--jobs {opts.jobs}: must be at least 1")
    if opts.ray_address is not None and opts.executor != "ray":
        raise UsageError("--ray-address is for --executor ray")
    if opts.jobs is not None and opts.executor == "inprocess":
        raise UsageError("--jobs: the inprocess executor computes one job at a time (use --executor local)")
    if opts.executor == "ray":
        from ..run.rayexec import require_ray

        require_ray()


def _check_names(registry: Registry, kind: str, names: tuple[str, ...]) -> None:
    for name in names:
        registry.entry(kind, name)


def select_generators(registry: Registry, opts: RunOptions) -> tuple[str, ...]:
    """The pretrained generators --generator and --checkpoint name, each checkpoint registered as a generator; a
    --dataset or --prior that a named generator contradicts is a UsageError (its weights are checked when planned)."""
    from ..run.pretrained import register_checkpoint

    names = [*opts.generators, *(register_checkpoint(registry, path) for path in dict.fromkeys(opts.checkpoints))]
    names = list(dict.fromkeys(names))
    for name in names:
        gen = registry.get("generators", name)
        if opts.datasets and gen.dataset not in opts.datasets:
            raise UsageError(f"--generator {name} models {gen.dataset}, which --dataset leaves out "
                             f"({', '.join(opts.datasets)})")
        if opts.priors and gen.prior not in opts.priors:
            raise UsageError(f"--generator {name} draws its latents from the {gen.prior} prior, which --prior leaves out "
                             f"({', '.join(opts.priors)})")
    return tuple(names)


def skip_broken_generators(registry: Registry, request: PlanRequest) -> None:
    """Every registered generator joins the tasks' defaults when none is named: one whose weights do not load (or
    do not fit its networks) is skipped with one warning line naming it, as a plugin that fails to load is."""
    for name in registry.names("generators"):
        try:
            request.weights_digest(name)
        except (UsageError, PluginError) as exc:
            say(f"lvrbench: warning: skipped {registry.drop('generators', name, str(exc)).line()}")


def select_tasks(registry: Registry, opts: RunOptions) -> list[Task]:
    """The tasks --all or --task names; neither, or both, is a UsageError."""
    if opts.run_all and opts.tasks:
        raise UsageError("--all and --task cannot be combined")
    if not opts.run_all and not opts.tasks:
        raise UsageError("say what to run: --all, or --task NAME (see `lvrbench list --kind tasks`)")
    names = registry.names("tasks") if opts.run_all else list(dict.fromkeys(opts.tasks))
    return [registry.get("tasks", n) for n in names]


def print_plan(plan: Plan, force: bool) -> None:
    """The dry run's listing: every cell with its status, then the counts and what a run would compute."""
    counts = {"done": 0, "failed": 0, "pending": 0}
    for cell in plan.cells:
        status = plan.status[cell.id]
        counts[status] += 1
        print(f"{status:8} {cell.id}  {cell.label()}")
    todo = len(plan.cells) if force else counts["failed"] + counts["pending"]
    print(f"{len(plan.cells)} cells: {counts['done']} done, {counts['failed']} failed, {counts['pending']} pending; "
          f"{todo} to compute")


#: What a probe writes: a block, so that a full disk is found before the work (creating an empty file can succeed there).
PROBE_BYTES = 4096


def check_writable(path: Path, option: str) -> None:
    """Refuse, before any work, a directory that cannot be written (read-only, not ours, a full disk, a file in the
    way): a block is written to a temporary file in it, or in its nearest existing parent, and removed. Nothing is
    created: a refused command leaves no folder behind, and a run creates its folders when it writes into them."""
    try:
        existing = next(p for p in (path.absolute(), *path.absolute().parents) if p.exists() or p.is_symlink())
    except OSError as exc:  # e.g. a name too long for the file system
        raise UsageError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    if not existing.is_dir():
        raise UsageError(f"{option} {path}: cannot write there ({existing} is not a directory)")
    try:
        with tempfile.TemporaryFile(dir=existing) as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        where = "" if existing == path.absolute() else f"{existing}: "
        raise UsageError(f"{option} {path}: cannot write there ({where}{exc.strerror or exc})") from None


def check_cache(cache_dir: Path, option: str = "--cache-dir") -> None:
    """Refuse, before any work, an artifact cache where a trained network could not be saved: the folder and each
    kind's folder in it (generators/, evaluators/, a plugin's), so a permission or a full disk never costs a training."""
    check_writable(cache_dir, option)
    if cache_dir.is_dir():
        for folder in sorted(p for p in cache_dir.iterdir() if p.is_dir()):
            check_writable(folder, option)


def check_outputs(root: Path, tasks: list[str]) -> None:
    """Refuse, before any work, a leaderboard root where the results or pages of `tasks` cannot be written: links and
    things in the way, and each folder a run writes (the root, results/, results/<task>/, images/<task>/) writable."""
    for task in tasks:
        for rel in (f"results/{task}/cell.json", f"images/{task}/figure.png", f"{task}.md"):
            refuse_target(root, rel)
    for folder in (root, root / "results", *(root / kind / task for task in tasks for kind in ("results", "images"))):
        check_writable(folder, "--out")


def plan_execution(registry: Registry, opts: RunOptions, jobs: list, device: torch.device,
                   cache_dir: Path) -> tuple[list, Any, str]:
    """The run's graph (`harness.graph`: the artifacts its jobs need that the cache lacks, then the jobs), the executor
    that computes it, and how, in words. A local pool of one worker is this process itself."""
    import secrets

    from ..engine.artifacts import ArtifactCache
    from ..run.env import RunEnv
    from ..run.executors import InProcessExecutor, LocalExecutor, default_workers
    from ..run.harness import graph
    from ..run.workers import Setup

    cache = ArtifactCache(cache_dir)
    steps = graph(jobs, registry, lambda artifact: cache.ready(artifact.kind, artifact.spec))
    run_id = secrets.token_hex(8)
    name = opts.executor or default_executor(device)
    absolute = lambda path: str(Path(path).expanduser().absolute())  # noqa: E731  (workers may start elsewhere)
    setup = Setup(str(device), absolute(cache_dir), opts.data_dir and absolute(opts.data_dir), run_id,
                  tuple(absolute(path) for path in dict.fromkeys(opts.checkpoints)))
    if name == "ray":
        from ..run.rayexec import RayExecutor

        executor = RayExecutor(setup, registry, device, opts.ray_address, opts.jobs)
        return steps, executor, f"with Ray at {executor.address}"
    workers = min(opts.jobs or default_workers(), len(steps)) if name == "local" else 1
    if workers > 1:
        return steps, LocalExecutor(setup, workers, registry, device), f"with {workers} local worker processes"
    return steps, InProcessExecutor(RunEnv(registry, device, cache_dir, opts.data_dir, run_id)), "in this process"


def _tree(state: dict) -> str:
    """A git state in words: its commit, and whether uncommitted changes were on top."""
    commit = (state.get("git_commit") or "no commit")[:12]
    return f"{commit}{' with uncommitted changes' if state.get('git_dirty') else ''}"


def run_command(registry: Registry, opts: RunOptions) -> int:
    """Run `lvrbench run`; returns the exit code: 0 all cells ok, 1 some cells failed or no leaderboard could be
    built from the results, 130 interrupted. Bad input raises UsageError (exit 2) before any work."""
    code_state()  # what every result of this process records: the tree as the run starts (its code is loaded now)
    if opts.profile not in PROFILES:
        raise UsageError(f"unknown profile {opts.profile!r} (known: {', '.join(PROFILES)})")
    for option, value in (("--out", opts.out), ("--cache-dir", opts.cache_dir), ("--data-dir", opts.data_dir)):
        if value is not None and not value.strip():
            raise UsageError(f"{option}: empty path")
    tasks = select_tasks(registry, opts)
    check_executor(opts)
    _check_names(registry, "datasets", opts.datasets)
    for name in opts.families:
        if name in registry.names("generators"):
            raise UsageError(f"--family {name}: {name} is a pretrained generator (it is never trained); select it with "
                             f"--generator {name}")
    _check_names(registry, "families", opts.families)
    generators = select_generators(registry, opts)
    device = resolve_device(opts.device)
    unique = lambda values: tuple(dict.fromkeys(values))  # noqa: E731  (a repeated option is harmless)
    request = PlanRequest(registry, opts.profile, unique(opts.datasets), unique(opts.families), unique(opts.methods),
                          unique(opts.priors), unique(opts.seeds or (0,)), parse_overrides(opts.overrides),
                          data_dir=opts.data_dir, generators=generators, seeds_given=bool(opts.seeds))
    for name in generators:  # their weights, checked against their networks before any work
        request.weights_digest(name)
    if not request.families and not generators:
        skip_broken_generators(registry, request)
    known = set().union(*(registry.call(t, "parameters", request) for t in tasks))
    for name in request.overrides:
        if name not in known:
            raise UsageError(f"--set {name}: no selected task or method has a hyper-parameter {name!r} "
                             f"(they have: {', '.join(sorted(known)) or 'none'})")
    methods = set().union(*(registry.call(t, "method_names", registry) for t in tasks))
    for name in request.methods:
        if name in methods:
            continue
        if any(name in registry.names(kind) for kind in METHOD_KINDS):
            raise UsageError(f"{name} is not a method of task {', '.join(t.name for t in tasks)} "
                             f"(its methods: {', '.join(sorted(methods)) or 'none'})")
        raise unknown_name("method", name, methods)
    root = Path(opts.out) if opts.out else default_root(opts.profile)
    problems = root_problems(registry, root, opts.profile)
    if problems:
        raise refusal(root, problems)
    store = ResultStore(root)
    plan = make_plan(tasks, request, store, explicit=not opts.run_all)  # reads every dataset it plans on
    if not plan.cells:
        raise UsageError("nothing to run: no cell matches these options (see `lvrbench list`)")
    jobs = plan.pending_jobs(opts.force)
    cache_dir = Path(opts.cache_dir) if opts.cache_dir else user_cache_dir() / "artifacts"
    outputs = sorted({c.task for c in plan.cells})
    check_outputs(root, outputs)
    if opts.dry_run:
        print_plan(plan, opts.force)
        return 0
    check_cache(cache_dir)

    steps, executor, how = plan_execution(registry, opts, jobs, device, cache_dir)
    total = sum(len(j.cells) for j in jobs)
    say(f"lvrbench: {count(len(plan.cells), 'cell')}, {total} to compute in {count(len(jobs), 'job')} on {device} "
        f"{how} (profile {opts.profile}, results in {root}/results)")
    failures: list[tuple[str, str]] = []
    start = time.perf_counter()
    done = 0
    try:
        for finished in executor.run(steps):
            step, results = finished.step, finished.results
            if step.job is None:
                outcome = f"failed: {finished.error}" if finished.error else "ready"
                say(f"[{step.label()}]: {outcome} in {finished.seconds:.0f}s ({time.perf_counter() - start:.0f}s elapsed)")
                continue
            for result in results:
                if result["status"] == "failed":
                    if plan.status[result["id"]] == "done":  # --force: a failed recompute never replaces a good result
                        failures.append((result["id"], f"{result['error']} (the earlier ok result is kept)"))
                        continue
                    failures.append((result["id"], result["error"]))
                try:
                    store.write(result)
                except OSError as exc:
                    raise UsageError(f"cannot write a result under {store.dir} ({exc.strerror or exc}); "
                                     "the results written before it are kept") from None
            done += 1
            ok = sum(r["status"] == "ok" for r in results)
            say(f"[{done}/{len(jobs)}] {step.job.label}: {ok}/{len(results)} ok in {finished.seconds:.0f}s "
                f"({time.perf_counter() - start:.0f}s elapsed)")
    except KeyboardInterrupt:
        again = "without --force " if opts.force else ""
        say(f"lvrbench: interrupted; finished cells are saved. Run the same command again {again}to resume.")
        return 130
    if (now := tree_moved()) is not None:
        say(f"lvrbench: the code's tree changed while the run went on ({_tree(code_state())} at the start, {_tree(now)} "
            "now); its results record the start, the code its processes had loaded")
    if failures:
        say(f"lvrbench: {count(len(failures), 'cell')} failed:")
        for cid, error in failures:
            say(f"  {cid}: {error}")
    try:
        written = build(registry, root)
    except UsageError as exc:  # e.g. a task's render broke: the results stay, the run reports it as a failure
        say(f"lvrbench: the results are saved but no leaderboard was written: {exc}")
        return 1
    say(f"lvrbench: leaderboards written: {', '.join(str(p) for p in written)} ({time.perf_counter() - start:.0f}s)")
    return 1 if failures else 0
