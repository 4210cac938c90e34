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
"""USOT (Zheng et al., ICCV 2021): Siamese tracking learned from unlabeled videos.

Network :mod:`.model` (RoI-pooled template, multi-scale correlation, anchor-free heads, memory
branch) on the shared Lite0 backbone, tracker with the online memory queue :mod:`.tracker`,
training recipe :mod:`.recipe` (naive Siamese, then cycle memory).
Moving-object discovery lives in the training package (``unsup_tracker_training.discovery``).
"""
import copy

from ...registry import MethodSpec, register_method
from .model import DEFAULT_USOT_CONFIG, build_usot
from .recipe import USOTRecipe
from .tracker import USOTParams, USOTTracker

SPEC = register_method(MethodSpec(
    name="usot",
    params_cls=USOTParams,
    build_model=build_usot,
    tracker_cls=USOTTracker,
    default_model_config=copy.deepcopy(DEFAULT_USOT_CONFIG),
    recipe_cls=USOTRecipe,
    description="USOT: anchor-free Siamese tracker with a cycle-memory branch, trained on "
                "moving objects discovered in unlabeled videos",
))
