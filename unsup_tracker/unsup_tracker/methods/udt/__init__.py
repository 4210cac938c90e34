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
"""UDT: unsupervised deep tracking (Wang et al., CVPR 2019) on DCFNet features.

Trained from scratch on unlabeled video by forward-backward tracking through a differentiable
DCF (``recipe.py``); tracks with a 3-scale DCF search and linear model update (``tracker.py``).
"""
from ...registry import MethodSpec, register_method
from .model import DEFAULT_MODEL_CONFIG, DCFNetFeatures, build_udt_model
from .params import UDTParams
from .recipe import UDTRecipe
from .tracker import UDTTracker

SPEC = register_method(MethodSpec(
    name="udt",
    params_cls=UDTParams,
    build_model=build_udt_model,
    tracker_cls=UDTTracker,
    default_model_config=dict(DEFAULT_MODEL_CONFIG),
    recipe_cls=UDTRecipe,
    description="UDT: DCFNet features learned by forward-backward tracking, DCF tracker",
))

__all__ = ["SPEC", "DCFNetFeatures", "UDTParams", "UDTRecipe", "UDTTracker", "build_udt_model"]
