"""The Ray executor (placeholder until written)."""
from __future__ import annotations

from ..base.errors import UsageError


def require_ray() -> None:
    """Refuse, in one line, `--executor ray` where Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed here: pip install 'lvrbench[ray]'") from None
