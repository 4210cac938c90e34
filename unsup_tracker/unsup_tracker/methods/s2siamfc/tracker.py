"""S2SiamFC tracking: the shared SiamFC tracker with S2SiamFC's defaults.

S2SiamFC "runs exactly the same as SiamFC at the inference stage"; its best variant,
"S2SiamFC (Linear)", adds CFNet's linear template update with lambda_u = 0.0102 (DIGEST 5.5),
so that update is on by default here (``update_rate=0`` gives plain SiamFC).
"""
from __future__ import annotations

import dataclasses

from ...models.siamfc_tracker import SiamFCParams, SiamFCTracker


@dataclasses.dataclass
class S2SiamFCParams(SiamFCParams):
    update_rate: float = 0.0102


class S2SiamFCTracker(SiamFCTracker):
    """SiamFC three-scale tracker registered as ``s2siamfc``."""
