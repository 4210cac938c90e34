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
"""Training module: learns tracker weights from unlabeled videos, image folders and rosbag2 bags.

Installed as ``unsup_tracker_training``; it builds on the core ``unsup_tracker`` package and never
imports ROS. Each method's recipe (``unsup_tracker.methods.<name>.recipe``) says how to turn
frames into a loss; this package provides what every method shares:

* :mod:`.sources`: video files (also ``.gz``), image sequences, stills folders, rosbag2 (sqlite3
  and MCAP) image topics, with kind detection;
* :mod:`.sampler`: :class:`FrameSampler`, the in-memory ``FrameSource`` the recipes sample from;
* :mod:`.loop`: :func:`train` (checkpoints, resume, time budget, loss log);
* :mod:`.cli`: the ``unsup-tracker-train`` command; :mod:`.make_bag`: video -> rosbag2.
"""
from .loop import TrainingError, TrainOptions, TrainResult, train  # noqa: F401
from .sampler import FrameSampler  # noqa: F401
from .sources import DataError, open_sources  # noqa: F401
