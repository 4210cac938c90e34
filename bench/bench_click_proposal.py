"""How often a click's box proposal matches the target: devbench, click = ground-truth centre.

For every ``--step``-th frame of every devbench sequence where the target is annotated, the
click is the centre of the ground-truth box; the proposal (:mod:`unsup_tracker.click_proposal`,
centre-surround colour contrast, ``bins`` levels per Lab channel) is compared with the truth.
Printed: the fraction with IoU > 0.5, the mean IoU and the time per proposal; next to it the
same for a fixed-size square of the median ground-truth side (a box that knows the benchmark's
typical size but not the object's) as a reference. Nothing is asserted.

    python bench/bench_click_proposal.py [--step 10] [--offset 0] [--bins 4 8]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from unsup_tracker.click_proposal import propose_box
from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.evaluation.devbench import ensure_devbench
from unsup_tracker.geometry import iou_xywh


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=int, default=10, help="every n-th frame")
    parser.add_argument("--offset", type=int, default=0, help="first frame of each sequence")
    parser.add_argument("--bins", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args()
    sequences = load_dataset(ensure_devbench())
    samples = []
    for sequence in sequences:
        present = sequence.present
        for index in range(args.offset, len(present), args.step):
            if present[index]:
                samples.append((sequence, index))
    truths = np.array([s.groundtruth[i] for s, i in samples])
    median_side = float(np.median(np.sqrt(truths[:, 2] * truths[:, 3])))
    print(f"devbench: {len(sequences)} sequences, {len(samples)} frames (every {args.step}th from "
          f"{args.offset}, with the target annotated); click = the ground-truth centre")
    fixed = []
    for truth in truths:
        cx, cy = truth[:2] + truth[2:] / 2
        fixed.append((cx - median_side / 2, cy - median_side / 2, median_side, median_side))
    ious = iou_xywh(np.array(fixed), truths)
    print(f"  fixed {median_side:.0f}px square (reference): IoU>0.5 {np.mean(ious > 0.5):.1%}, "
          f"mean IoU {ious.mean():.3f}")
    for bins in args.bins:
        proposals, seconds = [], []
        for (sequence, index), truth in zip(samples, truths):
            image = sequence.load_frame(index)
            centre = truth[:2] + truth[2:] / 2
            start = time.perf_counter()
            proposals.append(propose_box(image, centre, bins=bins))
            seconds.append(time.perf_counter() - start)
        ious = iou_xywh(np.array(proposals), truths)
        per_sequence = {}
        for (sequence, _), iou in zip(samples, ious):
            per_sequence.setdefault(sequence.name, []).append(iou > 0.5)
        worst = sorted((np.mean(v), k) for k, v in per_sequence.items())[:3]
        print(f"  colour contrast, {bins} bins/channel: IoU>0.5 {np.mean(ious > 0.5):.1%}, "
              f"mean IoU {ious.mean():.3f}, {1e3 * np.median(seconds):.1f} ms per click "
              f"(median); worst sequences "
              + ", ".join(f"{name} {share:.0%}" for share, name in worst))


if __name__ == "__main__":
    main()
