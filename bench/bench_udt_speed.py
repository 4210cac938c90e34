"""UDT ``track()`` speed next to OpenCV's KCF and CSRT, same frames, same run.

Frames: a 640x480 textured scene (smoothed noise) with a textured 80x100 target that moves
and changes scale, so every tracker does its normal per-frame work. Each tracker is timed on
the identical frame sequence; rounds alternate between trackers so that load from other
processes on a shared machine hits all of them alike. Figures are medians of per-frame wall
times. Speed is printed, never asserted.

    python bench/bench_udt_speed.py [--frames 200] [--rounds 5] [--threads 1 2]
                                    [--checkpoint untrained|PATH] [--input-size 64 ...]
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from unsup_tracker import UNTRAINED, build_tracker


def make_frames(count: int, seed: int = 0) -> tuple[list[np.ndarray], tuple[int, int, int, int]]:
    """``count`` 640x480 BGR frames with a moving, scaling textured patch; first-frame box."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur((rng.random((600, 800, 3)) * 255).astype(np.uint8),
                                  (0, 0), 3)
    texture = cv2.GaussianBlur((rng.random((100, 80, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    frames = []
    box0 = None
    for index in range(count):
        phase = 2 * np.pi * index / max(count, 1)
        ox, oy = 60 + 40 * np.sin(phase), 50 + 30 * np.cos(phase)  # camera pan
        frame = background[int(oy):int(oy) + 480, int(ox):int(ox) + 640].copy()
        scale = 1.0 + 0.25 * np.sin(2 * phase)
        w, h = int(round(80 * scale)), int(round(100 * scale))
        cx, cy = 320 + 150 * np.sin(phase), 240 + 100 * np.sin(2 * phase)
        x, y = int(round(cx - w / 2)), int(round(cy - h / 2))
        frame[y:y + h, x:x + w] = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)
        frames.append(frame)
        if box0 is None:
            box0 = (x, y, w, h)
    return frames, box0


class OpenCVTracker:
    """Minimal adapter so OpenCV trackers are timed through the same loop."""

    def __init__(self, factory):
        self.factory = factory

    def init(self, frame, box):
        self.tracker = self.factory()
        self.tracker.init(frame, tuple(int(v) for v in box))

    def track(self, frame):
        return self.tracker.update(frame)


def time_frames(tracker, frames, box) -> np.ndarray:
    tracker.init(frames[0], box)
    times = []
    for frame in frames[1:]:
        start = time.perf_counter()
        tracker.track(frame)
        times.append(time.perf_counter() - start)
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--checkpoint", default=UNTRAINED,
                        help="UDT weights (speed does not depend on them); default untrained")
    parser.add_argument("--input-size", type=int, nargs="+", default=[None],
                        help="UDT input sizes to time (default: the tracker's default)")
    args = parser.parse_args()

    frames, box = make_frames(args.frames)
    contenders = {}
    for size in args.input_size:
        overrides = {} if size is None else {"input_size": size}
        name = "UDT" if size is None else f"UDT input {size}"
        contenders[name] = build_tracker("udt", checkpoint=args.checkpoint, device="cpu",
                                         **overrides)
    contenders["OpenCV KCF"] = OpenCVTracker(cv2.TrackerKCF_create)
    contenders["OpenCV CSRT"] = OpenCVTracker(cv2.TrackerCSRT_create)

    print(f"{len(frames) - 1} frames of 640x480 per round, {args.rounds} rounds, "
          f"torch {torch.__version__}, OpenCV {cv2.__version__}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        cv2.setNumThreads(threads)
        medians = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, tracker in contenders.items():
                medians[name].append(np.median(time_frames(tracker, frames, box)))
        kcf = np.median(medians["OpenCV KCF"])
        print(f"\n{threads} thread(s) (torch and OpenCV):")
        for name, values in medians.items():
            per_frame = float(np.median(values))
            print(f"  {name:<18} {per_frame * 1e3:7.2f} ms/frame  {1.0 / per_frame:7.1f} FPS"
                  f"  ({kcf / per_frame:4.2f}x KCF speed)")


if __name__ == "__main__":
    main()
