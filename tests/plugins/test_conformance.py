"""The conformance kit (`lvrbench.testing`) over every built-in plugin: the checks a third-party package runs too."""
from lvrbench.testing.conformance import *  # noqa: F401,F403

LVRBENCH_DISTRIBUTION = "lvrbench"
