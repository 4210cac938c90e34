# Copyright 2026 unsup_tracker developers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
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
