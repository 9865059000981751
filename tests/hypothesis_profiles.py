"""Hypothesis profiles for the property and fuzz tests; importing this module loads one.

``ci`` (the default) is deterministic: the same examples on every run and machine (``derandomize``, no example
database), so a red CI is reproducible and a green one means the same thing each time. ``explore``
(``HYPOTHESIS_PROFILE=explore``) draws ten times as many fresh random examples, to hunt locally.
Each test sets its own ``max_examples`` (how much it is worth); ``explore`` multiplies that by ten.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

EXPLORE_FACTOR: Final = 10
PROFILE: Final = os.environ.get("HYPOTHESIS_PROFILE", "ci")

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,  # a shared 2-core box: each test bounds its own work (timeouts) instead
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("explore", parent=settings.get_profile("ci"), derandomize=False)
settings.load_profile(PROFILE)


def examples(count: int) -> settings:
    """``@examples(n)``: n examples under ``ci``, ten times more under ``explore``."""
    return settings(max_examples=count * (EXPLORE_FACTOR if PROFILE == "explore" else 1))
