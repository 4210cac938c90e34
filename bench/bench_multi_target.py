"""Per-frame cost of 1, 2, 4, 8 UDT targets on one 640x480 stream: batched vs one by one.

What tracker_node's worker does per frame, without ROS: :func:`unsup_tracker.targets.track_targets`
over N targets sharing one model (one network pass for all their search crops, UDT's
``track_batch``) against the same N trackers each calling ``track()`` (N passes). Frames: the
640x480 scene of ``bench_udt_speed.make_frames`` (a moving, scaling patch); the N targets start on
the patch and on N-1 other places of the textured scene (a target's cost does not depend on
what it tracks: fixed network input). Rounds alternate batched and one-by-one so load from other
processes hits both alike; each figure is the median over rounds of the mean time per frame
(wall clock, and this process's CPU time).
The frame's conversion and the ROS transport are not included (bench_ros_latency.py
--targets measures those end to end). Speed is printed, never asserted.

    python bench/bench_multi_target.py [--targets 1 2 4 8] [--frames 100] [--rounds 5]
                                       [--threads 1] [--checkpoint untrained|PATH]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench_udt_speed import make_frames

from unsup_tracker import UNTRAINED
from unsup_tracker.registry import build_model, get_method
from unsup_tracker.targets import TargetManager, track_targets

#: Where the extra targets start (xywh on 640x480): spread over the scene, off the patch's path.
EXTRA_BOXES = [(20, 20, 60, 60), (560, 20, 60, 60), (20, 400, 60, 60), (560, 400, 60, 60),
               (280, 20, 60, 50), (20, 210, 60, 60), (560, 210, 60, 60)]


def targets_for(count, model, frames, boxes):
    spec = get_method("udt")
    manager = TargetManager(max_targets=max(count, 1))
    for box in [boxes[0], *EXTRA_BOXES][:count]:
        tracker = spec.tracker_cls(model, spec.params_cls(), "cpu")
        tracker.init(frames[0], box)
        manager.add("udt", tracker, 0, (640, 480))
    return manager.targets()


def time_round(count, model, frames, boxes, batched):
    """Return (wall, process CPU) seconds per frame of one pass over ``frames``."""
    targets = targets_for(count, model, frames, boxes)
    start, start_cpu = time.perf_counter(), time.process_time()
    for frame in frames[1:]:
        if batched:
            track_targets(targets, frame)
        else:
            for target in targets:
                target.tracker.track(frame)
    frames_timed = len(frames) - 1
    return ((time.perf_counter() - start) / frames_timed,
            (time.process_time() - start_cpu) / frames_timed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--checkpoint", default=None,
                        help="default: the shipped UDT checkpoint, else untrained weights")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = get_method("udt")
    checkpoint = args.checkpoint or (None if spec.shipped_checkpoint.is_file() else UNTRAINED)
    model, _ = build_model("udt", checkpoint, "cpu")
    frames, boxes = make_frames(args.frames + 1)
    print(f"UDT ({checkpoint or 'shipped'}), 640x480, {args.frames} frames, {args.rounds} rounds, "
          f"{args.threads} torch thread(s); ms per frame (median of round means)")
    print(f"{'targets':>8} {'batched':>9} {'one-by-one':>11} {'each added':>11} "
          f"{'FPS batched':>12} {'CPU batched':>12} {'CPU one-by-one':>15}")
    previous = None  # (count, batched ms) of the row before
    for count in sorted(args.targets):
        timings = {True: [], False: []}
        for _ in range(args.rounds):
            for batched in (True, False):
                timings[batched].append(time_round(count, model, frames, boxes, batched))
        batched_ms, batched_cpu = (1e3 * float(v) for v in np.median(timings[True], axis=0))
        single_ms, single_cpu = (1e3 * float(v) for v in np.median(timings[False], axis=0))
        added = batched_ms if previous is None else (
            (batched_ms - previous[1]) / (count - previous[0]))
        previous = (count, batched_ms)
        print(f"{count:>8} {batched_ms:>9.2f} {single_ms:>11.2f} {added:>11.2f} "
              f"{1e3 / batched_ms:>12.1f} {batched_cpu:>12.2f} {single_cpu:>15.2f}")
    print("each added: batched wall ms per target added since the row before (first row: all); "
          "CPU: process CPU ms per frame (less sensitive to other processes than wall time)")


if __name__ == "__main__":
    main()
