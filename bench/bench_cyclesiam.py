"""Time CycleSiam's ``track()`` with and without its mask branch, at two mask sizes.

Configurations (weights fresh unless ``--checkpoint``: the cost does not depend on them): mask
off, mask on with the default 31x31 per-position output, mask on with the paper's 63x63. They
run interleaved frame by frame on the same devbench frames (640x480) so machine load hits all
alike; per configuration the mean and 95th-percentile wall time and the process CPU time per
``track()`` are printed, and the network's parameter count. Timing on the shared development
machine is noisy. Nothing is asserted. Usage::

    python bench/bench_cyclesiam.py [--threads 1] [--max-frames 40] [--sequences 3]
"""
import argparse
import time

import numpy as np
import torch

from unsup_tracker import UNTRAINED, build_tracker
from unsup_tracker.checkpoint import save_checkpoint
from unsup_tracker.evaluation import devbench
from unsup_tracker.evaluation.dataset import load_dataset
from unsup_tracker.methods.cyclesiam.model import build_cyclesiam


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--max-frames", type=int, default=40, help="frames per sequence")
    parser.add_argument("--sequences", type=int, default=3, help="devbench sequences used")
    parser.add_argument("--checkpoint", default=UNTRAINED, help="weights of the 31x31 runs")
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    sequences = load_dataset(devbench.ensure_devbench())[:args.sequences]
    import tempfile
    folder = tempfile.mkdtemp(prefix="bench_cyclesiam_")
    torch.manual_seed(0)
    net63 = build_cyclesiam({"mask_size": 63})
    path63 = save_checkpoint(f"{folder}/m63.pt", "cyclesiam", net63, {"mask_size": 63})
    configs = {"mask off": (args.checkpoint, False), "mask 31": (args.checkpoint, True),
               "mask 63": (path63, True)}
    wall = {name: [] for name in configs}
    cpu = {name: [] for name in configs}
    for sequence in sequences:
        first = int(np.flatnonzero(sequence.present)[0])
        image = sequence.load_frame(first)
        trackers = {}
        for name, (checkpoint, mask) in configs.items():
            trackers[name] = build_tracker("cyclesiam", checkpoint, device="cpu", mask=mask,
                                           long_term=False)
            trackers[name].init(image, sequence.groundtruth[first])
        for index in range(first + 1, min(len(sequence), first + 1 + args.max_frames)):
            image = sequence.load_frame(index)
            for name, tracker in trackers.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                tracker.track(image)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    for name in configs:
        ms, cpu_ms = 1000 * np.asarray(wall[name]), 1000 * np.asarray(cpu[name])
        print(f"cyclesiam track() {name:8s}: {ms.mean():6.2f} ms mean, "
              f"{np.percentile(ms, 95):6.2f} ms p95 wall, {cpu_ms.mean():6.2f} ms CPU "
              f"({len(ms)} frames)")
    for size in (31, 63):
        net = build_cyclesiam({"mask_size": size})
        mask_params = sum(p.numel() for p in net.mask.parameters())
        total = sum(p.numel() for n, p in net.named_parameters() if p.requires_grad)
        print(f"mask_size {size}: mask branch {mask_params} parameters, "
              f"trainable total {total}")


if __name__ == "__main__":
    main()
