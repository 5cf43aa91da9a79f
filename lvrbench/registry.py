"""Deprecated: `lvrbench.registry` moved to `lvrbench.run.registry` in 0.5.0 (plugin authors: import from `lvrbench.api`).

Kept for one release so that 0.4 plugin packages still import; it goes in 0.6.0. Nothing in lvrbench imports it.
"""
import importlib
import warnings

warnings.warn("lvrbench.registry is deprecated since 0.5.0 and goes in 0.6.0: import from lvrbench.api "
              "(or lvrbench.run.registry)", DeprecationWarning, stacklevel=2)
globals().update({k: v for k, v in vars(importlib.import_module("lvrbench.run.registry")).items() if not k.startswith("__")})
