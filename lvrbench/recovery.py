"""The recovery engine: gradient-descent latent vector recovery, batched over images and grid.

One call optimises z of shape [H, N, d]: H hyper-parameter rows (learning rate, regularizer
weight, resampler parameters: one row per cell) times N target images, with the generator's
weights frozen. Adam runs per row (the update of torch.optim.Adam, written out so each row has
its own learning rate), so the batch gives the same numbers as running every cell on its own:
rows never interact, and every random draw is shaped [N, ...] and shared by all grid rows.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from .errors import UsageError
from .kinds import Method, Regularizer, Resampler
from .priors import Prior
from .progress import bar

BETAS = (0.9, 0.999)
EPS = 1e-8


def _l1(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).abs().mean(-1)


def _l2(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (out - target).square().mean(-1)


#: diff(x, G(z)) per row. "l1" is paper 000's mean absolute error; "l2" is paper 001's squared
#: error ||x - G(z)||^2 divided by the number of pixels, which keeps regularizer weights on the
#: same scale as "l1" (Adam is invariant to the constant for plain recovery).
DIFFS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {"l1": _l1, "l2": _l2}


@dataclass
class RecoveryContext:
    """What a regularizer sees at each step besides z.

    `generator` is a seeded CPU generator: draw on the CPU and move the result to z.device.
    """

    prior: Prior
    step: int
    total_steps: int
    generator: torch.Generator
    #: G(z) for the z this call sees (the rows with a positive weight), [rows * N, ...], differentiable.
    generated: torch.Tensor
    #: The method's hyper-parameters, one value per grid row, shaped [H, 1].
    params: dict[str, torch.Tensor]
    #: Per-sample discriminator loss of images (the family's `realness`), when one is given.
    realness: Callable[[torch.Tensor], torch.Tensor] | None


@dataclass
class RecoveryResult:
    """Recovered latents [H, N, d], final diff [H, N], and the step each row first went non-finite (0: never)."""

    z: torch.Tensor
    diff: torch.Tensor
    diverged_at: torch.Tensor


@contextmanager
def frozen(*modules: nn.Module | None) -> Iterator[None]:
    """Evaluation mode and no weight gradients for the duration; restored afterwards."""
    present = [m for m in modules if m is not None]
    modes = [(sub, sub.training) for m in present for sub in m.modules()]
    flags = [(p, p.requires_grad) for m in present for p in m.parameters()]
    for m in present:
        m.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for sub, training in modes:
            sub.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat subnormal floats as zero on the CPU for the duration (restored to torch's default after).

    Adam's moment estimates decay into subnormal range for latents the loss barely moves, and
    x86 arithmetic on subnormals is many times slower: up to 6x on the whole recovery here.
    """
    enabled = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


def validate(method: Method, prior: Prior, grid: Sequence[dict[str, float]], realness, diff: str = "l1") -> None:
    """Refuse, before any work, a method/prior mismatch and out-of-range hyper-parameters."""
    if diff not in DIFFS:
        raise UsageError(f"unknown diff {diff!r} (known: {', '.join(DIFFS)})")
    if not grid:
        raise UsageError(f"{method.name}: the hyper-parameter grid is empty")
    if not method.supports(prior):
        raise UsageError(method.unsupported([prior.kind]))
    if isinstance(method, Regularizer) and method.needs_discriminator and realness is None:
        raise UsageError(f"{method.name} needs the family's discriminator, and none was given")
    if not isinstance(method, (Regularizer, Resampler)):
        raise UsageError(f"{method.name} is not a regularizer or resampler")
    validate_grid(method, grid)


def validate_grid(method: Method, grid: Sequence[dict[str, float]]) -> None:
    """Refuse a grid row whose lr is not a finite number > 0 or whose method parameters are out of range."""
    for row in grid:
        lr = row.get("lr")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise UsageError(f"{method.name}: lr must be a finite number > 0, got {lr!r}")
        method.check_params({k: v for k, v in row.items() if k != "lr"})


def recover(
    G: nn.Module,
    targets: torch.Tensor,
    prior: Prior,
    method: Method,
    grid: Sequence[dict[str, float]],
    *,
    steps: int,
    init: torch.Tensor | None,
    latent_dim: int,
    seed: int,
    diff: str = "l1",
    realness: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_rows: int = 1 << 16,
    desc: str = "recovery",
) -> RecoveryResult:
    """Recover latents of `targets` ([N, ...]) for every row of `grid` (dicts with "lr" + method params).

    `init` is [N, d] (shared by every grid row) or None for zeros (paper 000). Grid rows are
    processed in chunks of at most `max_rows` latents; each chunk restarts the generator from
    `seed`, which is exact because a row's random draws never depend on the other rows.
    """
    validate(method, prior, grid, realness, diff)
    dtype = next(G.parameters()).dtype
    n = targets.shape[0]
    per_chunk = max(1, max_rows // max(n, 1))
    chunks = [list(grid[i:i + per_chunk]) for i in range(0, len(grid), per_chunk)]
    results = []
    with frozen(G), torch.enable_grad(), flush_denormals(), bar(steps * len(chunks), desc) as progress:
        for rows in chunks:
            results.append(_recover_chunk(G, targets.to(dtype), prior, method, rows, steps, init, latent_dim,
                                          seed, DIFFS[diff], realness, progress))
    return RecoveryResult(*(torch.cat([getattr(r, f) for r in results]) for f in ("z", "diff", "diverged_at")))


def _row_params(rows: list[dict[str, float]], names: Sequence[str], device, dtype) -> dict[str, torch.Tensor]:
    return {k: torch.tensor([r[k] for r in rows], device=device, dtype=dtype) for k in names}


def _recover_chunk(G, targets, prior, method, rows, steps, init, latent_dim, seed, diff_fn, realness, progress) -> RecoveryResult:
    h, n = len(rows), targets.shape[0]
    device, dtype = targets.device, targets.dtype
    generator = torch.Generator().manual_seed(seed)
    start = torch.zeros(n, latent_dim, dtype=dtype) if init is None else init.to("cpu", dtype)
    z = start.to(device).unsqueeze(0).repeat(h, 1, 1)
    flat_targets = targets.reshape(1, n, -1)
    names = [p.name for p in method.params]
    params = _row_params(rows, names, device, dtype)
    lr = torch.tensor([r["lr"] for r in rows], device=device, dtype=dtype).view(h, 1, 1)
    weight = params.get("weight", torch.zeros(h, device=device, dtype=dtype))
    # Only rows with a positive weight evaluate the regularizer, so weight-0 rows equal `none` exactly
    # even when a regularizer misbehaves on them.
    active = (weight > 0).nonzero().squeeze(1) if isinstance(method, Regularizer) else weight.new_zeros(0, dtype=torch.long)
    m = torch.zeros_like(z)
    v = torch.zeros_like(z)
    diverged_at = torch.zeros(h, n, dtype=torch.long, device=device)
    beta1, beta2 = BETAS
    for step in range(1, steps + 1):
        z.requires_grad_(True)
        generated = G(z.reshape(h * n, latent_dim))
        loss = diff_fn(generated.reshape(h, n, -1), flat_targets)
        if active.numel():
            sub = generated.reshape(h, n, *generated.shape[1:])[active].reshape(-1, *generated.shape[1:])
            ctx = RecoveryContext(prior, step, steps, generator, sub,
                                  {k: t[active].view(-1, 1) for k, t in params.items()}, realness)
            loss = loss.index_add(0, active, weight[active].view(-1, 1) * method.loss(z[active], prior, ctx))
        (grad,) = torch.autograd.grad(loss.sum(), z)
        with torch.no_grad():
            z = z.detach()
            # torch.optim.Adam's update, with a learning rate per grid row.
            m.mul_(beta1).add_(grad, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            bias1, bias2 = 1 - beta1 ** step, 1 - beta2 ** step
            denom = (v.sqrt() / math.sqrt(bias2)).add_(EPS)
            z = z - (lr / bias1) * (m / denom)
            bad = ~torch.isfinite(z).all(-1)  # before resampling, which could paper over a NaN
            diverged_at.masked_fill_(bad & (diverged_at == 0), step)
            if isinstance(method, Resampler):
                z = method.apply(z, prior, step, steps, generator, {k: t.view(h, 1, 1) for k, t in params.items()})
        progress.update()
    with torch.no_grad():
        final = diff_fn(G(z.reshape(h * n, latent_dim)).reshape(h, n, -1), flat_targets)
    return RecoveryResult(z, final, diverged_at)
