"""lvrbench: a plugin-based benchmark suite for GAN latent vector recovery."""
from importlib.metadata import PackageNotFoundError, version

from .hookspecs import hookimpl

try:
    __version__ = version("lvrbench")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

#: The core's part of every identity: cells and trained artifacts change with it.
CORE = f"lvrbench {__version__}"

__all__ = ["hookimpl", "__version__"]
