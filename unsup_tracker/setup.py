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
"""ament_python package: the tracker library, its ROS 2 nodes and the training module."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "unsup_tracker"

setup(
    name=PACKAGE,
    version="0.1.0",
    # The training module lives in training/ and is installed as unsup_tracker_training so it
    # cannot collide with a top-level `training` package of some other project.
    packages=find_packages(exclude=["test", "test.*", "training", "training.*"])
    + ["unsup_tracker_training"]
    + ["unsup_tracker_training." + p for p in find_packages("training")],
    package_dir={"unsup_tracker_training": "training"},
    package_data={"unsup_tracker": ["weights/*.pt", "weights/*.md", "weights/*.json"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", glob("launch/*.py")),
        ("share/" + PACKAGE + "/config", glob("config/*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="unsup_tracker developers",
    maintainer_email="dev@unsup-tracker.local",
    description="Label-free single-object trackers (UDT, S2SiamFC, PUL, ...) as ROS 2 nodes",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "tracker_node = unsup_tracker.ros.tracker_node:main",
            "tracker_lifecycle_node = unsup_tracker.ros.tracker_node:lifecycle_main",
            "camera_node = unsup_tracker.ros.camera_node:main",
            "visualization_node = unsup_tracker.ros.visualization_node:main",
            "demo = unsup_tracker.ros.demo:main",
            "unsup-tracker = unsup_tracker.cli:main",
            "unsup-tracker-train = unsup_tracker_training.cli:main",
            "train = unsup_tracker_training.cli:main",
        ],
    },
)
