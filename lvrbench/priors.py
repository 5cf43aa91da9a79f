"""Deprecated: `lvrbench.priors` moved to `lvrbench.api.priors` in 0.5.0 (plugin authors: import from `lvrbench.api`).

Kept for one release so that 0.4 plugin packages still import; it goes in 0.6.0. Nothing in lvrbench imports it.
"""
import importlib
import warnings

warnings.warn("lvrbench.priors is deprecated since 0.5.0 and goes in 0.6.0: import from lvrbench.api "
              "(or lvrbench.api.priors)", DeprecationWarning, stacklevel=2)
globals().update({k: v for k, v in vars(importlib.import_module("lvrbench.api.priors")).items() if not k.startswith("__")})
