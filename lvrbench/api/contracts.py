"""The contracts: the seven kinds of plugin, what each must keep, and every type a plugin or task is handed.

A plugin package subclasses one of these kinds and returns instances from the matching hook (`lvrbench.api.hookspecs`);
a task is handed a plan request and an environment (`Request`, `Environment`, typed here as Protocols) and returns
jobs of cells and their outcomes. Nothing here imports torch at import time, so that `lvrbench --help` stays fast.

Every plugin declares a `revision`: a cell's identity holds the revisions of the code that computed it, so bump it
when a change alters the numbers the plugin produces (the pinned digests of `tests/plugins/test_revisions.py` fail
until you do).
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Protocol, Sequence

from ..base.errors import UsageError
from ..base.identity import cell_id
from .datainfo import DataInfo
from .priors import Prior

if TYPE_CHECKING:
    import torch
    from torch import Tensor, nn

    from .estimates import Estimate


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
    #: The revision of the plugin's numbers: part of the identity of every cell it computes. Bump it when a change
    #: alters what the plugin computes (a distribution's version is provenance, never identity).
    revision: ClassVar[int] = 1

    @property
    def summary(self) -> str:
        """The first line of the plugin's docstring: what `lvrbench list` shows."""
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    def __repr__(self) -> str:
        return f"<{SINGULAR.get(self.kind, self.kind)} {self.name!r}>"


class Parametrised(Plugin):
    """A plugin with declared hyper-parameters and priors (methods and samplers): one way to declare and check them."""

    params: ClassVar[tuple[Param, ...]] = ()
    #: The priors the plugin is defined for: "normal", "uniform", "iid" (any IID prior) or "any". A method's is the
    #: prior of the latents it recovers, a sampler's its generator's; the planner never pairs it with another.
    requires: ClassVar[str] = "any"

    def supports(self, prior: Prior) -> bool:
        """Whether the plugin is defined for `prior`."""
        return prior.satisfies(self.requires)

    def unsupported(self, priors: Sequence[str]) -> str:
        """The one-line refusal of this plugin with `priors` (prior names) it is not defined for."""
        return f"{self.name} is defined for the {self.requires} prior, not the {' or '.join(priors)} prior"

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


#: Paper 000's latent-regulation-loss weights (Tables 2-11); 0 is the "no loss" column.
PAPER_WEIGHTS = (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)


@dataclass
class RecoveryContext:
    """What a regularizer sees at each step of a recovery besides z.

    `generator` is a seeded CPU generator: draw on the CPU, then move the numbers to z.device.
    """

    prior: Prior
    step: int
    total_steps: int
    generator: torch.Generator
    #: G(z) for the z this call sees, [rows * N, ...], differentiable; only for regularizers that declare
    #: `needs_generated` (None for the others, whose loss depends on z alone).
    generated: torch.Tensor | None
    #: The method's hyper-parameters, one value per grid row, shaped [H, 1].
    params: dict[str, torch.Tensor]
    #: Per-sample discriminator loss of images (the family's `realness`), when one is given.
    realness: Callable[[torch.Tensor], torch.Tensor] | None


class Regularizer(Method):
    """A latent regulation loss added to the reconstruction loss with a per-row weight."""

    kind = "regularizers"
    params = (Param("weight", PAPER_WEIGHTS, minimum=0.0, doc="latent regulation loss weight λ"),)
    #: True when `loss` needs `ctx.realness` (the family's discriminator); implies `needs_generated`.
    needs_discriminator: ClassVar[bool] = False
    #: True when `loss` reads `ctx.generated` (G(z)). The engine then calls `loss` once per grid row, with
    #: that row's generator pass, instead of once over all rows.
    needs_generated: ClassVar[bool] = False

    def loss(self, z: torch.Tensor, ctx: RecoveryContext) -> torch.Tensor:
        """One loss value per latent: z is [H, N, d] (grid rows x images x latent), the result [H, N].

        Random draws (e.g. prior samples) come from `ctx.generator`, a seeded CPU generator (draw
        on the CPU, then move to z.device), with no grid axis (shape [N, ...], broadcast over
        H), so a cell's numbers never depend on which other grid rows share its batch. H counts
        only the rows with a positive weight; the engine multiplies by each row's weight.

        .. versionchanged:: 0.5.0
           One context argument: the prior is `ctx.prior` (it was a positional argument).
        """
        raise NotImplementedError


@dataclass
class ResampleContext:
    """What a resampler sees after each optimizer step besides z: the prior, the step (1-based) of `total_steps`,
    the seeded CPU `generator` every draw comes from, and the method's hyper-parameters, one value per grid row,
    shaped [H, 1, 1]."""

    prior: Prior
    step: int
    total_steps: int
    generator: torch.Generator
    params: dict[str, torch.Tensor]


class Resampler(Method):
    """A rule applied after every optimizer step that redraws latent elements from the prior."""

    kind = "resamplers"

    def apply(self, z: torch.Tensor, ctx: ResampleContext) -> torch.Tensor:
        """Return the resampled z ([H, N, d]).

        Draw random numbers with shape z.shape[1:] (no grid axis) and broadcast them over H, so a
        cell's numbers never depend on which other grid rows share its batch. `ctx.generator` is a
        seeded CPU generator: draw on the CPU, then move the numbers to z.device.

        .. versionchanged:: 0.5.0
           One context argument (it took the prior, step, total steps, generator and params positionally).
        """
        raise NotImplementedError


@dataclass
class Batch:
    """One training iteration's inputs; `fake` is G(z), computed once and shared by both players.

    `settings` are the run's resolved training settings (`lvrbench.engine.training.TrainSettings`: a
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
    #: The base priors (names in `lvrbench.api.PRIORS`) the family can be trained on.
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


@dataclass
class TrainedGAN:
    """A trained generator: its family's networks, its prior (the only source of its latents), and its artifact key.

    `metrics` are the training run's (its last losses and counts); `history` holds one dict per
    epoch, {"epoch", "d_loss", "g_loss", "generator_steps", ...}: the players' mean losses over
    the epoch (g_loss None in an epoch without a generator update) and any family terms.
    """

    family: Family
    nets: nn.ModuleDict
    prior: Prior
    latent_dim: int
    key: str
    metrics: dict
    history: list[dict] = field(default_factory=list)

    def describe(self) -> dict:
        """What a result records of this generator: its cache key, family, training metrics and prior (learned values too)."""
        return {"key": self.key, "family": self.family.name, **self.metrics, "prior": self.prior.describe()}

    def sample(self, n: int, generator: torch.Generator, device: torch.device, batch: int = 1000) -> torch.Tensor:
        """n samples G(z), z from the generator's prior, returned on the CPU."""
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, n, batch):
                z = self.prior.sample(min(batch, n - start), generator, device)
                out.append(self.nets["G"](z).cpu())
        return torch.cat(out)


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


class SamplerError(Exception):
    """A sampler that cannot finish (e.g. its cap on proposals reached): the cell fails with this one-line reason."""


@dataclass(frozen=True)
class Cost:
    """What a sampler spent: generator and discriminator evaluations (samples passed through) and wall seconds."""

    generator_evals: int
    discriminator_evals: int
    seconds: float

    def per_1000(self, n: int) -> dict:
        """The cost of 1000 samples at this rate, as results record it."""
        scale = 1000.0 / n
        return {"generator_evals": self.generator_evals * scale, "discriminator_evals": self.discriminator_evals * scale,
                "seconds": self.seconds * scale}


@dataclass
class SampleOutput:
    """A sampler's n samples ([n, ...] on the CPU), their latents where they have them ([n, d]), its statistics as
    estimates with intervals (acceptance rate, steps), plain-number `info` (e.g. DRS's log M); the cost the core
    measured and the density ratio it handed the sampler (its `describe()`) are set by the core (`lvrbench.engine.sampling.run_sampler`)."""

    samples: Tensor
    latents: Tensor | None = None
    stats: dict[str, Estimate] = field(default_factory=dict)
    info: dict[str, float] = field(default_factory=dict)
    cost: Cost | None = None
    ratio: dict | None = None


@dataclass
class SamplerContext:
    """What a sampler may use: the seeded CPU `generator` every draw comes from, the `device` the networks run on,
    its validated `params`, a held-out real split (`held_out`, [m, ...] on the CPU, for calibration and for
    MH-GAN's initial states), and the counted network evaluations. `batch` is how many samples one pass holds.
    `ratio` is the density ratio the core handed it (`lvrbench.engine.sampling.DensityRatio`), None where the
    sampler declares `needs_ratio = False`."""

    generator: torch.Generator
    device: torch.device
    params: dict[str, float]
    gan: TrainedGAN
    held_out: Tensor | None = None
    ratio: Callable[[Tensor, Tensor | None], Tensor] | None = None
    batch: int = 500
    generator_evals: int = 0
    discriminator_evals: int = 0

    def chunks(self, n: int) -> Iterator[int]:
        """The sizes of the batches n samples are drawn in (fixed by n and `batch`, never by the device)."""
        for start in range(0, n, self.batch):
            yield min(self.batch, n - start)

    def latents(self, n: int) -> Tensor:
        """n latents [n, d] from the generator's prior, drawn in `chunks(n)` on the CPU and moved to the device."""
        import torch

        with torch.no_grad():
            return torch.cat([self.gan.prior.sample(b, self.generator, self.device) for b in self.chunks(n)])

    def normal(self, shape: tuple[int, ...]) -> Tensor:
        """Standard normal numbers drawn on the CPU, moved to the device."""
        import torch

        return torch.randn(shape, generator=self.generator).to(self.device)

    def uniform(self, shape: tuple[int, ...]) -> Tensor:
        """U(0, 1) numbers drawn on the CPU, moved to the device."""
        import torch

        return torch.rand(shape, generator=self.generator).to(self.device)

    def integers(self, high: int, shape: tuple[int, ...]) -> Tensor:
        """Integers in [0, high) drawn on the CPU (indices stay there)."""
        import torch

        return torch.randint(high, shape, generator=self.generator)

    def generate(self, z: Tensor) -> Tensor:
        """G(z), counted as z.shape[0] generator evaluations (differentiable where grad mode is on)."""
        self.generator_evals += z.shape[0]
        return self.gan.nets["G"](z)

    def log_ratio(self, x: Tensor, z: Tensor | None) -> Tensor:
        """log p_data(x)/p_G(x) per sample ([B], float64 unless grad flows), counted as x.shape[0] discriminator
        evaluations; z is the latent that made x, or None for real samples."""
        if self.ratio is None:
            raise UsageError("this sampler declares needs_ratio = False, so it has no density ratio")
        import torch

        self.discriminator_evals += x.shape[0]
        out = self.ratio(x, z)
        return out if torch.is_grad_enabled() else out.double()


class Sampler(Parametrised):
    """A post-hoc sampler that draws better samples from a trained generator (DRS, DDLS, ...).

    `params` are declared as a method's (validated before any work, overridable with `--set`), `requires` as a
    method's (the generator priors it is defined for: the planner skips the others). A sampler draws every random
    number through its context (`ctx.latents`, `ctx.normal`, `ctx.uniform`, `ctx.integers`, which read the seeded
    `ctx.generator`; never the global RNG) and evaluates the networks only through `ctx.generate(z)` and
    `ctx.log_ratio(x, z)`, so the core counts its cost; see CONTRIBUTING.md.
    """

    kind = "samplers"
    #: Whether `sample` reads `ctx.log_ratio` (a density ratio from the generator's discriminator).
    needs_ratio: ClassVar[bool] = True
    #: Whether the i-th sample refines the i-th latent `ctx.latents(n)` draws first, the one `direct` turns into its
    #: i-th sample on the same seed (a latent-space flow: DG-flow, DDLS). Then the sampling task compares the two
    #: sets sample by sample (paired intervals); otherwise (rejection, MCMC: DRS, MH-GAN) as independent samples.
    paired: ClassVar[bool] = False

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        """n samples of the trained generator `gan`, improved by this sampler, with its statistics.

        The core checks what comes back, and fails this sampler's cell alone otherwise: n finite samples shaped and
        typed as G's own (`[n, *data.shape]`), latents `[n, d]` or None, `stats` of `Estimate`s, finite `info`
        numbers, and the global RNGs (torch's, numpy's, Python's) untouched.
        """
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
    #: Its base prior, a name in `lvrbench.api.PRIORS` ("normal": N(0, 1), "uniform": U(-1, 1)).
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


# -- what a task plans and returns ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One point of a task's grid; `config` holds everything that determines its numbers (its id is its hash)."""

    config: dict

    @cached_property
    def id(self) -> str:
        """The cell's identity: the hash of its config."""
        return cell_id(self.config)

    @property
    def task(self) -> str:
        """The name of the task the cell belongs to."""
        return self.config["task"]

    def label(self) -> str:
        """The cell in words, as a dry run lists it (hyper-parameters written as tables write them)."""
        from ..base.text import number_text

        c = self.config
        hp = " ".join(f"{k}={number_text(v)}" for k, v in sorted(c["hparams"].items()))
        return f"{c['task']} {c['dataset']} {c['family']} {c['prior']} {c['method']} {hp} seed={c['seed']}".replace("  ", " ")


@dataclass
class Job:
    """Cells a task computes together (e.g. one method's whole grid as one batched recovery); `label` names the group
    in progress lines. A cell's numbers never depend on which other cells share its job."""

    task: str
    label: str
    cells: list[Cell]


@dataclass(frozen=True, eq=False)
class Artifact:
    """A trained network jobs need: a generator (`kind` "generators", `spec` a `gan_spec`) or a classifier
    ("evaluators", an `evaluator_spec`). A run builds each once, before the jobs that need it, however many do."""

    kind: str
    spec: dict

    def __post_init__(self) -> None:
        from ..base.identity import BUILT

        if self.kind not in BUILT:
            raise ValueError(f"an artifact's kind is one of {', '.join(BUILT)}, not {self.kind!r}")

    @property
    def key(self) -> str:
        """Its cache key: the hash of its spec."""
        from ..base.identity import artifact_key

        return artifact_key(self.spec)

    def label(self) -> str:
        """The artifact in words, for progress lines: "generator lsgan fashion-mnist normal seed=0", "classifier
        fashion-mnist"."""
        s = self.spec
        if self.kind == "evaluators":
            return f"classifier {s.get('dataset')}"
        return f"generator {s.get('family')} {s.get('dataset')} {s.get('prior')} seed={s.get('seed')}"


@dataclass
class CellOutcome:
    """What a task computed for one cell: metrics ({value, low, high, n} estimates), extra data its page reads, the
    artifacts it used (each with its "key"), or an error (the cell fails with this one line)."""

    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    error: str | None = None


class Registry(Protocol):
    """What a task may ask of the plugin registry."""

    def get(self, kind: str, name: str) -> Any:
        """The plugin of `kind` called `name` (an unknown name is a UsageError with "did you mean")."""

    def names(self, kind: str) -> list[str]:
        """The registered names of `kind`, sorted."""

    def entries(self, kind: str) -> list[Any]:
        """The registered entries of `kind` (each with `.obj`, `.name`, `.distribution`), by name."""

    def method(self, name: str) -> Method:
        """A regularizer or resampler by name."""

    def provenance(self, obj: Plugin) -> str:
        """"distribution version" of the package that registered `obj`."""

    def identity(self, obj: Plugin) -> dict:
        """What a cell's `code` records of `obj`: its distribution and revision."""

    def call(self, obj: Plugin, hook: str, *args: Any) -> Any:
        """obj.<hook>(*args) with a plugin's own failure turned into one line naming it."""


class Request(Protocol):
    """What a task plans for (`Task.plan`): the user's filters (empty: the task's defaults for the profile), the
    profile, the seeds, `--set` overrides, and the dataset and weight digests every identity holds."""

    registry: Registry
    profile: str
    datasets: tuple[str, ...]
    families: tuple[str, ...]
    methods: tuple[str, ...]
    priors: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: dict[str, tuple[float, ...]]
    data_dir: str | None
    generators: tuple[str, ...]
    seeds_given: bool

    def fingerprint(self, dataset: str) -> str:
        """The digest of a dataset's contents (cells and networks on other data differ)."""

    def weights_digest(self, generator: str) -> str:
        """The digest of a pretrained generator's weights (checked against its networks first)."""

    def code(self, **plugins: Plugin | None) -> dict:
        """A cell's `code`: the core's numeric revisions and each named plugin's identity."""


class Environment(Protocol):
    """What a task may use while it computes a job (`Task.run`): the registry, the device, datasets, trained
    generators and evaluators (trained on first use and cached), and the artifact cache for its own artifacts."""

    registry: Registry
    device: torch.device
    data_dir: str | None

    @property
    def cache(self) -> Any:
        """The artifact cache (`lvrbench.engine.artifacts.ArtifactCache`) under --cache-dir."""

    def dataset(self, name: str) -> Dataset:
        """The registered dataset called `name`."""

    def split(self, dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a dataset split, loaded once per process."""

    def evaluator(self, spec: dict | None) -> Any:
        """The evaluator a `lvrbench.engine.specs.evaluator_spec` describes."""

    def gan(self, spec: dict) -> TrainedGAN:
        """The generator a `lvrbench.engine.specs.gan_spec` describes, trained on first use and cached."""


class Page(Protocol):
    """Handed to `Task.render`: where a page registers the figures its markdown links to."""

    def figure(self, name: str, draw: Callable[[Any], None]) -> str:
        """Register a PNG drawn by `draw(path)`; returns its link relative to the page."""


class Task(Plugin):
    """A benchmark protocol: which cells exist, how a group of them is computed, how results are tabled."""

    kind = "tasks"
    profiles: ClassVar[tuple[str, ...]] = ("quick", "standard", "full")
    #: (label, dotted config path) pairs the page's protocol lists from its results (see `protocol`);
    #: the default names the generator artifact fields `lvrbench.engine.specs.gan_spec` gives every task that trains one.
    protocol_fields: ClassVar[tuple[tuple[str, str], ...]] = (
        ("family", "settings.gan.family"), ("pretrained generator", "settings.gan.pretrained"),
        ("architecture", "settings.gan.arch"), ("d_z", "settings.gan.latent_dim"), ("GAN epochs", "settings.gan.train.epochs"),
        ("batch", "settings.gan.train.batch_size"),
        ("GAN learning rate", "settings.gan.train.lr"), ("seeds", "seed"))

    def protocol(self, results: list[dict]) -> list[str] | str:
        """The page's protocol as a short list of items, each a phrase of plain text (the page renders them as a
        bulleted list under "Protocol"): `source` cited, then what the results' configs say was run (never the paper's
        numbers), one item per field of `protocol_fields`, then the grid. A task may add items (how it departs from
        the paper, what a seed sets). A single string is one item (0.5's shape, still accepted)."""
        from ..base.text import protocol_items

        return protocol_items(self.source, results, self.protocol_fields)

    def headlines(self, results: list[dict]) -> list:
        """The papers' headline claims this task puts to its results (`lvrbench.kit.headlines.Headline`s, each with
        its verdict), which its page shows and the README's *Results* table lists; none by default."""
        return []

    def plan(self, request: Request) -> list[Job]:
        """The jobs (groups of cells computed together) for a request."""
        raise NotImplementedError

    def parameters(self, request: Request) -> set[str]:
        """The hyper-parameter names `--set NAME=...` may override in this request's grid."""
        return set()

    def method_names(self, registry: Registry) -> set[str]:
        """The names `--method` may select in this task."""
        return set()

    def accepts(self, data: Dataset) -> bool:
        """Whether the task runs on dataset plugin `data` at all (e.g. labelled images only): when a named generator's
        dataset is not one, the refusal says which tasks do run on it."""
        return True

    def validate(self, result: dict) -> list[str]:
        """What is wrong with an ok result of this task for `render` (result files may come from pull requests)."""
        return []

    def run(self, job: Job, env: Environment) -> list[CellOutcome]:
        """Compute a job's cells; one `CellOutcome` per cell, in order."""
        raise NotImplementedError

    def render(self, results: list[dict], page: Page) -> str:
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
        from ..base.identity import artifact_keys

        return artifact_keys(config)

    # -- what a run's graph reads ---------------------------------------------------------------------
    def artifacts(self, job: Job) -> list[Artifact]:
        """The trained networks `job` needs (`Environment.gan` and `.evaluator` would train them): a run builds each
        once, under a claim on the cache, before the jobs that need it, so that parallel workers never wait for one
        another's training nor train twice. The default reads each cell's `settings.gan` (a pretrained generator is
        loaded, never built) and `settings.evaluator`, the specs `lvrbench.kit.gan_spec` and `evaluator_spec` give;
        a task that asks `env` for other specs declares them here."""
        from ..base.identity import artifacts_needed

        found: dict[tuple[str, str], Artifact] = {}
        for cell in job.cells:
            for kind, spec in artifacts_needed(cell.config):
                artifact = Artifact(kind, spec)
                found.setdefault((kind, artifact.key), artifact)
        return list(found.values())


@dataclass(frozen=True)
class Kind:
    """One kind of plugin: its registry key (plural), its class, its name in messages and its hook.

    Adding a kind is one row of `TABLE` plus its hookspec (`lvrbench.api.hookspecs`), its section of
    CONTRIBUTING.md and its conformance checks (`lvrbench.testing`): `tests/api/test_kinds.py` fails
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
