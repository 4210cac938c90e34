"""PUL (Progressive Unsupervised Learning, Wu et al., CVPR 2021), a SiamFC tracker.

Its backbone is learned from unlabeled video (background discrimination, temporal mining,
noise-robust loss).

The network and the tracker are the shared SiamFC ones (:mod:`unsup_tracker.models.siamfc`,
:mod:`unsup_tracker.models.siamfc_tracker`). The training recipe is :mod:`.recipe`.
"""
import copy

from ...models.siamfc import DEFAULT_SIAMFC_CONFIG, build_siamfc
from ...registry import MethodSpec, register_method
from .recipe import PULRecipe
from .tracker import PULParams, PULTracker

SPEC = register_method(MethodSpec(
    name="pul",
    params_cls=PULParams,
    build_model=build_siamfc,
    tracker_cls=PULTracker,
    default_model_config=copy.deepcopy(DEFAULT_SIAMFC_CONFIG),
    recipe_cls=PULRecipe,
    description="PUL: SiamFC with a backbone learned by progressive unsupervised learning "
                "from unlabeled video",
))
