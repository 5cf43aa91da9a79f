"""The seven kinds of plugin and the contract each must keep.

A plugin package subclasses one of these and returns instances from the matching hook
(see `lvrbench.hookspecs`). Nothing here imports torch, so that `lvrbench --help` stays fast.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

from .errors import UsageError
from .priors import Prior

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .env import TrainedGAN
    from .recovery import RecoveryContext
    from .sampling import SampleOutput, SamplerContext


#: What a plugin's (and a hyper-parameter's) name may be: lower-case letters, digits, '.', '_', '-'.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class Param:
    """A method hyper-parameter: its published grid and the range outside which it is refused."""

    name: str
    grid: tuple[float, ...]
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    doc: str = ""
    #: Whether only whole numbers are accepted (a step count, a number of proposals).
    integer: bool = False

    def check(self, owner: str, value: float) -> None:
        """Raise a one-line UsageError when `value` is non-finite or out of range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(f"{owner}: {self.name} must be a finite number, got {value!r}")
        if self.minimum is not None:
            if self.exclusive_minimum and value <= self.minimum:
                raise UsageError(f"{owner}: {self.name} must be > {self.minimum:g}, got {value:g}")
            if not self.exclusive_minimum and value < self.minimum:
                raise UsageError(f"{owner}: {self.name} must be >= {self.minimum:g}, got {value:g}")
        if self.maximum is not None and value > self.maximum:
            raise UsageError(f"{owner}: {self.name} must be <= {self.maximum:g}, got {value:g}")
        if self.integer and value != int(value):
            raise UsageError(f"{owner}: {self.name} must be a whole number, got {value:g}")


class Plugin:
    """Common to every kind: a registry name and a one-line summary (the docstring's first line)."""

    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: Where the method comes from, e.g. "Cho, paper 000 §1"; shown by `lvrbench list`.
    source: ClassVar[str] = ""

    @property
    def summary(self) -> str:
        """The first line of the plugin's docstring: what `lvrbench list` shows."""
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def __repr__(self) -> str:
        return f"<{SINGULAR.get(self.kind, self.kind)} {self.name!r}>"


class Parametrised(Plugin):
    """A plugin with declared hyper-parameters (methods and samplers): one way to declare and check them."""

    params: ClassVar[tuple[Param, ...]] = ()

    def check_params(self, values: dict[str, float]) -> None:
        """Refuse unknown, missing, non-finite or out-of-range hyper-parameters in one line."""
        declared = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(declared))
        if unknown:
            raise UsageError(f"{self.name}: unknown hyper-parameter {unknown[0]!r} (it has: {', '.join(declared) or 'none'})")
        for p in self.params:
            if p.name not in values:
                raise UsageError(f"{self.name}: hyper-parameter {p.name!r} is missing")
            p.check(self.name, values[p.name])


class Method(Parametrised):
    """Something a recovery task compares: a regularizer or a resampler."""

    #: The priors the method is defined for: "normal", "uniform", "iid" (any IID prior) or "any".
    requires: ClassVar[str] = "any"

    def supports(self, prior: Prior) -> bool:
        """Whether the method is defined for `prior`."""
        return prior.satisfies(self.requires)

    def unsupported(self, priors: Sequence[str]) -> str:
        """The one-line refusal of this method with `priors` (prior names) it is not defined for."""
        return f"{self.name} is defined for the {self.requires} prior, not the {' or '.join(priors)} prior"


#: Paper 000's latent-regulation-loss weights (Tables 2-11); 0 is the "no loss" column.
PAPER_WEIGHTS = (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)


class Regularizer(Method):
    """A latent regulation loss added to the reconstruction loss with a per-row weight."""

    kind = "regularizers"
    params = (Param("weight", PAPER_WEIGHTS, minimum=0.0, doc="latent regulation loss weight λ"),)
    #: True when `loss` needs `ctx.realness` (the family's discriminator); implies `needs_generated`.
    needs_discriminator: ClassVar[bool] = False
    #: True when `loss` reads `ctx.generated` (G(z)). The engine then calls `loss` once per grid row, with
    #: that row's generator pass, instead of once over all rows.
    needs_generated: ClassVar[bool] = False

    def loss(self, z: torch.Tensor, prior: Prior, ctx: RecoveryContext) -> torch.Tensor:
        """One loss value per latent: z is [H, N, d] (grid rows x images x latent), the result [H, N].

        Random draws (e.g. prior samples) come from `ctx.generator`, a seeded CPU generator (draw
        on the CPU, then move to z.device), with no grid axis (shape [N, ...], broadcast over
        H), so a cell's numbers never depend on which other grid rows share its batch. H counts
        only the rows with a positive weight; the engine multiplies by each row's weight.
        """
        raise NotImplementedError


class Resampler(Method):
    """A rule applied after every optimizer step that redraws latent elements from the prior."""

    kind = "resamplers"

    def apply(
        self,
        z: torch.Tensor,
        prior: Prior,
        step: int,
        total_steps: int,
        generator: torch.Generator,
        params: dict[str, torch.Tensor],
    ) -> torch.Tensor:
        """Return the resampled z ([H, N, d]); `params` hold one value per grid row, shaped [H, 1, 1].

        Draw random numbers with shape z.shape[1:] (no grid axis) and broadcast them over H, so a
        cell's numbers never depend on which other grid rows share its batch. `generator` is a
        seeded CPU generator: draw on the CPU, then move the numbers to z.device.
        """
        raise NotImplementedError


@dataclass
class Batch:
    """One training iteration's inputs; `fake` is G(z), computed once and shared by both players.

    `settings` are the run's resolved training settings (`lvrbench.training.TrainSettings`: a
    family reads its own options, e.g. a penalty weight, from `settings.options`), and
    `generator` is the run's seeded CPU generator: randomness inside a loss (WGAN-GP's
    interpolation weights) is drawn from it on the CPU, then moved. A loss may put detached
    scalars in `terms` (e.g. a penalty's value): the loop records their epoch means in the history.
    """

    real: torch.Tensor
    z: torch.Tensor
    nets: nn.ModuleDict
    settings: Any = None
    generator: torch.Generator | None = None
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    _fake: Any = field(default=None, repr=False)

    @property
    def fake(self) -> torch.Tensor:
        """G(z) of this batch, computed once and shared by the discriminator and generator losses."""
        if self._fake is None:
            self._fake = self.nets["G"](self.z)
        return self._fake


class Family(Plugin):
    """A GAN formulation: its networks, its generator's prior, how it trains and the losses the shared loop minimises.

    Optional capabilities are declared in `capabilities`, never found by type checks:
    "encode" (`encode`: the family trains an encoder E(x)), "realness" (`realness`: a
    per-sample score of how real D finds x, for the trick-discriminator loss) and
    "log_density_ratio" (`log_density_ratio`: an exact estimate of log p_data(x)/p_G(x), for
    post-hoc samplers; only where the discriminator's optimum is that ratio, e.g. a BCE logit).
    Every family with a "D" also has `critic_score`, which samplers calibrate where there is no exact ratio.
    """

    kind = "families"
    #: The base priors (names in `lvrbench.priors.PRIORS`) the family can be trained on.
    priors: ClassVar[tuple[str, ...]] = ("normal", "uniform")
    #: The dataset modalities the family can be trained on.
    modalities: ClassVar[tuple[str, ...]] = ("image", "points")
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: How the family trains, over the profile's settings (its keys win; a protocol may replace them per
    #: family): "optimizer" ("adam" or "rmsprop"), "lr", "betas", "critic_steps", and any option its
    #: losses read from `settings.options` (e.g. "clip", "penalty"). Part of the generator's identity.
    training: ClassVar[dict[str, Any]] = {}
    #: The network variants the family builds, by key (e.g. {"D": "critic without batch norm"}); G is
    #: always `build_generator`'s. Part of the generator's identity, so a changed variant retrains.
    networks: ClassVar[dict[str, str]] = {"G": "generator", "D": "discriminator"}

    def check(self, data: DataInfo, prior: str) -> None:
        """Refuse, at plan time and in one line, a dataset or base prior this family cannot be trained on."""
        if prior not in self.priors:
            raise UsageError(f"family {self.name} is trained on the {' or '.join(self.priors)} prior, not the {prior} prior")
        if data.modality not in self.modalities:
            raise UsageError(f"family {self.name} trains on {' or '.join(self.modalities)} data, not {data.name} ({data.modality})")

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        """The networks, keyed "G", "D" (and "E" where the family has an encoder; learned prior parameters too)."""
        from .networks import build_discriminator, build_generator
        from torch import nn

        return nn.ModuleDict({"G": build_generator(data, latent_dim, arch), "D": build_discriminator(data, arch)})

    def latent_prior(self, base: Prior, nets: nn.ModuleDict | None = None) -> Prior:
        """The generator's prior, made from the base prior (with its dimension): `base` itself unless the family learns one.

        Without `nets` (at plan time), the prior's declared form with untrained values: enough to
        check a method's `requires` before any work.
        """
        return base

    def critic_steps(self, settings: Any, generator_steps: int) -> int:
        """Discriminator updates before the next generator update, after `generator_steps` of them."""
        return settings.critic_steps

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        """Scalar loss of the discriminator's (and any other D-side player's) update."""
        raise NotImplementedError

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        """Scalar loss of the generator's (and encoder's, and learned prior's, where there are) update."""
        raise NotImplementedError

    def generator_losses(self, batch: Batch) -> Iterator[torch.Tensor]:
        """The G-side updates of one iteration, in order: each loss is minimised by its own optimiser step.

        Each is computed after the previous step (so a later loss sees the updated weights); the
        first is the generator's loss the history records. One update on `generator_loss` unless a
        family needs more (LOGAN-B's surrogate step after the adversarial one).
        """
        yield self.generator_loss(batch)

    def after_discriminator_step(self, batch: Batch) -> None:
        """Hook after each D update (WGAN clips weights here)."""

    def player_parameters(self, nets: nn.ModuleDict) -> tuple[list, list]:
        """Parameters of the D-side and G-side players (an encoder and a learned prior train with G)."""
        d_side = list(nets["D"].parameters())
        g_side = [p for key, m in nets.items() if key != "D" for p in m.parameters()]
        return d_side, g_side

    # -- optional capabilities (declared in `capabilities`) ---------------------------------------
    def realness(self, nets: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        """Per-sample generator adversarial loss of x ([B]): low where D judges x real ("realness").

        The trick-discriminator prior loss of Yeh et al. uses it during recovery.
        """
        raise UsageError(f"family {self.name} has no realness score")

    def encode(self, nets: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        """E(x): latents [B, d] of samples x [B, ...] ("encode")."""
        raise UsageError(f"family {self.name} has no encoder")

    def log_density_ratio(self, nets: nn.ModuleDict, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """log p_data(x) / p_G(x) per sample ([B]) where D estimates it exactly ("log_density_ratio").

        `z` is the latent that made x (x = G(z)), or None for samples with no latent (real data): a family whose D
        scores pairs (x, z) gives the joint ratio, which is what a sampler over (x, z) pairs needs.
        """
        raise UsageError(f"family {self.name} gives no log density ratio: its discriminator's optimum is not one")

    def critic_score(self, nets: nn.ModuleDict, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """D's raw score of x ([B]), higher where D judges x more real: what a calibrator maps to a log ratio."""
        return nets["D"](x).flatten()


class AdversarialFamily(Family):
    """A family defined by two per-sample losses on discriminator outputs (vanilla, LSGAN, hinge, ...)."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"realness"})

    def d_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """Scalar discriminator loss from D's raw outputs on real and generated batches."""
        raise NotImplementedError

    def g_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """Per-sample generator loss from D's raw outputs ([B] -> [B])."""
        raise NotImplementedError

    def discriminator_loss(self, batch: Batch) -> torch.Tensor:
        D = batch.nets["D"]
        return self.d_loss(D(batch.real).flatten(), D(batch.fake.detach()).flatten())

    def generator_loss(self, batch: Batch) -> torch.Tensor:
        return self.g_loss(batch.nets["D"](batch.fake).flatten()).mean()

    def realness(self, nets: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        return self.g_loss(nets["D"](x).flatten())


@dataclass(frozen=True)
class DataInfo:
    """What the core needs to know about a dataset to build networks and evaluators for it."""

    name: str
    modality: str  # "image" or "points"
    shape: tuple[int, ...]
    num_classes: int | None = None


class Dataset(Plugin):
    """A dataset: a train and a test split, loaded from real files or generated from a fixed seed."""

    kind = "datasets"
    modality: ClassVar[str] = "image"
    shape: ClassVar[tuple[int, ...]] = ()
    num_classes: ClassVar[int | None] = None

    @property
    def info(self) -> DataInfo:
        """What networks are built for: name, modality, sample shape, number of classes."""
        return DataInfo(self.name, self.modality, tuple(self.shape), self.num_classes)

    def fingerprint(self, data_dir: str | None) -> str:
        """A digest of what both splits hold: part of the identity of every cell and network that uses them.

        Reads the data, so a dataset that cannot be loaded raises here, before any work: a one-line
        UsageError naming the dataset and how to provide it. This default hashes `load`'s tensors.
        """
        digest = hashlib.sha256()
        for split in ("train", "test"):
            for tensor in self.load(split, data_dir):
                digest.update(f"{split} {tensor.dtype} {tuple(tensor.shape)};".encode())
                digest.update(tensor.contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    def load(self, split: str, data_dir: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a split ("train" or "test"): x float32 (images scaled to [-1, 1]), y int64 labels (or mode ids)."""
        raise NotImplementedError


class Sampler(Parametrised):
    """A post-hoc sampler that draws better samples from a trained generator (DRS, DDLS, ...).

    `params` are declared as a method's (validated before any work, overridable with `--set`). A sampler draws
    every random number from `ctx.generator` and evaluates the networks only through `ctx.generate(z)` and
    `ctx.log_ratio(x, z)`, so the core counts its cost; see `lvrbench.sampling` and CONTRIBUTING.md.
    """

    kind = "samplers"
    #: Whether `sample` reads `ctx.log_ratio` (a density ratio from the generator's discriminator).
    needs_ratio: ClassVar[bool] = True

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        """n samples of the trained generator `gan`, improved by this sampler, with its statistics."""
        raise NotImplementedError


class Pretrained(Plugin):
    """A generator trained elsewhere: benchmarked as it is, never trained by lvrbench.

    It declares the networks it has (`networks`: "G", and "D" and "E" where it has them), its base
    prior, its latent size, the dataset it models and, where it has a discriminator, the family whose
    losses and capabilities read that D (e.g. "vanilla", so its D logit is a log density ratio).
    `source` (a URL or a paper) is shown on every page that reports it. Its identity is the digest
    of its weights plus its package's version, so a changed checkpoint makes new cells.
    """

    kind = "generators"
    #: The registered dataset it models (its samples have that dataset's shape and range).
    dataset: ClassVar[str] = ""
    #: Its base prior, a name in `lvrbench.priors.PRIORS` ("normal": N(0, 1), "uniform": U(-1, 1)).
    prior: ClassVar[str] = "normal"
    latent_dim: ClassVar[int] = 0
    #: The family whose losses describe its D ("realness", "log_density_ratio"); None when it has no D.
    family: ClassVar[str | None] = None
    #: Its architecture in a few words, shown on pages (e.g. "mlp 8-64-784").
    arch: ClassVar[str] = ""
    #: The networks `build` returns, by key, with a few words each: "G" always, "D" with a family, "E" for an encoder.
    networks: ClassVar[dict[str, str]] = {"G": "generator"}

    def build(self, data: DataInfo) -> nn.ModuleDict:
        """Fresh networks keyed as `networks` declares; G maps [B, latent_dim] to [B, *data.shape]."""
        raise NotImplementedError

    def weights(self) -> Any:
        """The weights: the path of a state-dict file (read with `torch.load(..., weights_only=True)`), or a
        state dict ({"G.0.weight": tensor, ...}, keyed as the networks' ModuleDict is, or {"G": {...}, ...})."""
        raise NotImplementedError

    def latent_prior(self) -> Prior:
        """The generator's prior with its dimension: the base prior of `prior` over `latent_dim` elements."""
        from .priors import PRIORS

        return PRIORS[self.prior].with_dim(self.latent_dim)


class Task(Plugin):
    """A benchmark protocol: which cells exist, how a group of them is computed, how results are tabled."""

    kind = "tasks"
    profiles: ClassVar[tuple[str, ...]] = ("quick", "standard", "full")
    #: (label, dotted config path) pairs the page's protocol line states from its results (see `protocol`);
    #: the default names the generator artifact fields `lvrbench.env.gan_spec` gives every task that trains one.
    protocol_fields: ClassVar[tuple[tuple[str, str], ...]] = (
        ("family", "settings.gan.family"), ("pretrained generator", "settings.gan.pretrained"),
        ("architecture", "settings.gan.arch"), ("d_z", "settings.gan.latent_dim"), ("GAN epochs", "settings.gan.train.epochs"),
        ("batch", "settings.gan.train.batch_size"),
        ("GAN learning rate", "settings.gan.train.lr"), ("seeds", "seed"))

    def protocol(self, results: list[dict]) -> str:
        """The page's protocol line: `source` cited, then what the results' configs say was run (never the paper's numbers)."""
        from .leaderboard import protocol_text

        return protocol_text(self.source, results, self.protocol_fields)

    def plan(self, request: Any) -> list:
        """The jobs (groups of cells computed together) for a `lvrbench.harness.PlanRequest`."""
        raise NotImplementedError

    def parameters(self, request: Any) -> set[str]:
        """The hyper-parameter names `--set NAME=...` may override in this request's grid."""
        return set()

    def method_names(self, registry: Any) -> set[str]:
        """The names `--method` may select in this task."""
        return set()

    def validate(self, result: dict) -> list[str]:
        """What is wrong with an ok result of this task for `render` (result files may come from pull requests)."""
        return []

    def run(self, job: Any, env: Any) -> list:
        """Compute a job's cells; one `lvrbench.harness.CellOutcome` per cell, in order."""
        raise NotImplementedError

    def render(self, results: list[dict], page: Any) -> str:
        """The markdown body of this task's leaderboard from its result dicts."""
        raise NotImplementedError

    # -- what `lvrbench verify` reads ---------------------------------------------------------------
    #: How far a metric recomputed on a GPU (or recorded on one) may be from the recorded one and still reproduce:
    #: math.isclose's rel_tol and abs_tol. On the CPU the numbers must reproduce exactly.
    gpu_tolerance: ClassVar[dict[str, float]] = {"rel": 1e-3, "abs": 1e-6}
    #: Dotted paths of result fields that measure time on the machine that ran the cell (wall seconds, for
    #: example): no recomputation reproduces them, so `verify` leaves them out and says so.
    timings: ClassVar[tuple[str, ...]] = ()

    def artifact_keys(self, config: dict) -> dict[str, str]:
        """The key each named artifact of a result of `config` must record (`result["artifacts"][name]["key"]`),
        checked before any compute; the default derives the core's generator and evaluator keys from `settings`."""
        from .env import artifact_keys

        return artifact_keys(config)


@dataclass(frozen=True)
class Kind:
    """One kind of plugin: its registry key (plural), its class, its name in messages and its hook.

    Adding a kind is one row of `TABLE` plus its hookspec (`lvrbench.hookspecs`), its section of
    CONTRIBUTING.md and its conformance checks (`lvrbench.testing`): `tests/test_kinds.py` fails
    until all four exist.
    """

    name: str
    cls: type[Plugin]
    singular: str
    #: Whether `--method` names it, so its names share one namespace with the other such kinds.
    method_namespace: bool = False

    @property
    def hook(self) -> str:
        """The hook a plugin implements to provide this kind (`lvrbench_<kind>`)."""
        return f"lvrbench_{self.name}"


#: Every kind of plugin, in the order `lvrbench list` shows them; the mappings below derive from it.
TABLE: tuple[Kind, ...] = (
    Kind("regularizers", Regularizer, "regularizer", method_namespace=True),
    Kind("resamplers", Resampler, "resampler", method_namespace=True),
    Kind("families", Family, "family"),
    Kind("samplers", Sampler, "sampler", method_namespace=True),
    Kind("tasks", Task, "task"),
    Kind("datasets", Dataset, "dataset"),
    Kind("generators", Pretrained, "generator"),
)
KIND_CLASSES: dict[str, type[Plugin]] = {k.name: k.cls for k in TABLE}
KINDS = tuple(KIND_CLASSES)
HOOKS: dict[str, str] = {k.name: k.hook for k in TABLE}
SINGULAR: dict[str, str] = {k.name: k.singular for k in TABLE}
#: Kinds whose names share one namespace, because `--method` names any of them.
METHOD_KINDS = tuple(k.name for k in TABLE if k.method_namespace)
#: The kinds a recovery task compares: the Method subclasses the recovery engine runs.
RECOVERY_KINDS = tuple(k.name for k in TABLE if issubclass(k.cls, Method))
