"""Measure the shared mask stage on devbench: J/F vs the filled box, and cost per frame.

The stage runs on the ground-truth boxes (oracle boxes: this isolates the mask from tracking;
``unsup-tracker eval --set mask=true`` gives the figures with each tracker's own boxes). Per kind
of stage it prints DAVIS J, F and J&F (%, equal-weight mean over sequences, frames after the
first present one) beside the same for the box filled as a mask, and the mean / 95th-percentile
wall time of ``MaskStage.update`` at devbench's 640x480 with OpenCV on ``--threads`` threads.
Timing on the shared development machine is noisy. Nothing is asserted. Usage::

    python bench/bench_mask_stage.py [--threads 1] [--max-frames N] [--kinds colour,grabcut]
"""
import argparse
import time

import cv2
import numpy as np

from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.evaluation.metrics import mask_scores
from unsup_tracker.geometry import box_to_mask
from unsup_tracker.masks import MaskStage, MaskStageParams


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads")
    parser.add_argument("--max-frames", type=int, default=None, help="frames per sequence")
    parser.add_argument("--kinds", default="colour,grabcut",
                        help="comma-separated stage kinds (or kind:key=value;key=value)")
    return parser.parse_args()


def stage_params(text):
    kind, _, rest = text.partition(":")
    settings = {"kind": kind}
    for item in filter(None, rest.split(";")):
        key, value = item.split("=", 1)
        settings[key] = value
    return MaskStageParams.from_overrides(settings)


def main():
    args = parse_args()
    cv2.setNumThreads(args.threads)
    sequences = load_dataset(devbench.ensure_devbench())
    if args.max_frames:
        sequences = [s.truncated(args.max_frames) for s in sequences]
    kinds = args.kinds.split(",")
    per_kind = {k: [] for k in kinds}
    box_scores, seconds = [], {k: [] for k in kinds}
    for sequence in sequences:
        present = np.flatnonzero(sequence.present)
        frames = [(sequence.load_frame(i), sequence.groundtruth[i], sequence.load_mask(i))
                  for i in present]
        box_scores.append(np.mean([mask_scores(box_to_mask(b, m.shape), m)
                                   for _, b, m in frames[1:]], axis=0))
        for kind in kinds:
            stage = MaskStage(stage_params(kind))
            stage.init(frames[0][0], frames[0][1])
            scores = []
            for image, box, gt in frames[1:]:
                start = time.perf_counter()
                mask = stage.update(image, box)
                seconds[kind].append(time.perf_counter() - start)
                scores.append(mask_scores(mask, gt))
            per_kind[kind].append(np.mean(scores, axis=0))
        print(f"{sequence.name:<30s} box J {100 * box_scores[-1][0]:5.1f} "
              + " ".join(f"{k} J {100 * per_kind[k][-1][0]:5.1f}" for k in kinds), flush=True)
    print(f"\n{len(sequences)} devbench sequences, oracle boxes, {args.threads} OpenCV thread(s)")
    print("| stage | J | F | J&F | ms/frame mean | ms/frame p95 |")
    print("|---|---:|---:|---:|---:|---:|")
    j, f = np.mean(box_scores, axis=0)
    print(f"| filled box | {100 * j:.1f} | {100 * f:.1f} | {50 * (j + f):.1f} | - | - |")
    for kind in kinds:
        j, f = np.mean(per_kind[kind], axis=0)
        ms = 1000 * np.asarray(seconds[kind])
        print(f"| {kind} | {100 * j:.1f} | {100 * f:.1f} | {50 * (j + f):.1f} | "
              f"{ms.mean():.2f} | {np.percentile(ms, 95):.2f} |")


if __name__ == "__main__":
    main()
