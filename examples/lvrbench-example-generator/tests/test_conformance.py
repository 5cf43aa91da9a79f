"""lvrbench's conformance kit on this package's plugins (the same checks as `lvrbench test lvrbench-example-generator`)."""
from lvrbench.testing.conformance import *  # noqa: F401,F403

LVRBENCH_DISTRIBUTION = "lvrbench-example-generator"
