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
"""CycleSiam (Yuan, Wang, Chen, arXiv 2008.00637): cycle-consistent Siamese RPN with masks.

Network :mod:`.model` (Siamese RPN with depth-wise correlation, k = 5 anchors, score, box and
mask branches) on the shared Lite0 backbone, tracker :mod:`.tracker` (SiamRPN decoding with a
mask from the mask branch, re-detection hooks), label-free training recipe :mod:`.recipe`
(cycles 1 -> 2 -> 3 -> 2 -> 1 and 1 -> 2 -> 1 started from moving-object discovery).
"""
import copy

from ...registry import MethodSpec, register_method
from .model import DEFAULT_CYCLESIAM_CONFIG, build_cyclesiam
from .recipe import CycleSiamRecipe
from .tracker import CycleSiamParams, CycleSiamTracker

SPEC = register_method(MethodSpec(
    name="cyclesiam",
    params_cls=CycleSiamParams,
    build_model=build_cyclesiam,
    tracker_cls=CycleSiamTracker,
    default_model_config=copy.deepcopy(DEFAULT_CYCLESIAM_CONFIG),
    recipe_cls=CycleSiamRecipe,
    description="CycleSiam: Siamese RPN with a mask branch, trained by forward-backward cycles "
                "started from moving objects discovered in unlabeled videos",
))
