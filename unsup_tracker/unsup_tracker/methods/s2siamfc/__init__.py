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
"""S2SiamFC (Sio et al., ACM MM 2020): SiamFC trained from single unlabeled images.

Shared SiamFC network and tracker (:mod:`unsup_tracker.models.siamfc`,
:mod:`unsup_tracker.models.siamfc_tracker`) with S2SiamFC's defaults (:mod:`.tracker`) and its
training recipe (:mod:`.recipe`: anti-clutter weighting, adversarial masking, k-means hard
negatives).
"""
import copy

from ...models.siamfc import DEFAULT_SIAMFC_CONFIG, build_siamfc
from ...registry import MethodSpec, register_method
from .recipe import S2SiamFCRecipe
from .tracker import S2SiamFCParams, S2SiamFCTracker

SPEC = register_method(MethodSpec(
    name="s2siamfc",
    params_cls=S2SiamFCParams,
    build_model=build_siamfc,
    tracker_cls=S2SiamFCTracker,
    default_model_config=copy.deepcopy(DEFAULT_SIAMFC_CONFIG),
    recipe_cls=S2SiamFCRecipe,
    description="S2SiamFC: SiamFC trained from single unlabeled images (anti-clutter weighting, "
                "adversarial masking, k-means hard negatives)",
))
