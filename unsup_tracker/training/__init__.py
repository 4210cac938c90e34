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
