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
