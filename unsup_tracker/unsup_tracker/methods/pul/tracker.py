"""PUL tracking: the shared SiamFC tracker with PUL's defaults.

PUL keeps "the same tracking steps used in the original trackers" and applies "no online
adaptation" (DIGEST 3.5), so the template is never updated; SiamFC's scale-search defaults apply.
"""
from __future__ import annotations

import dataclasses

from ...models.siamfc_tracker import SiamFCParams, SiamFCTracker


@dataclasses.dataclass
class PULParams(SiamFCParams):
    update_rate: float = 0.0


class PULTracker(SiamFCTracker):
    """SiamFC three-scale tracker registered as ``pul``."""
