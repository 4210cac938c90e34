"""Do the shipped checkpoints reproduce? Run ``tools/train_shipped.sh`` twice and compare.

For each method, the exact shipped training command runs twice from scratch into temporary
folders; the two results' weights must be bit-identical, and (with the command's own step
count) identical to the shipped checkpoint. Prints, per method, the wall time of each run, a
SHA-256 of the weights and the verdicts. Exit status 1 when anything differs.

    make bench BENCH=bench/bench_reproducible_training.py                   # full: ~1 h
    make bench BENCH=bench/bench_reproducible_training.py ARGS="--steps 20 --method pul"

``--steps N`` shortens both runs (the comparison with the shipped file is then skipped).
"""
from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "unsup_tracker"))

from unsup_tracker import get_method, load_checkpoint  # noqa: E402

METHODS = ("udt", "s2siamfc", "pul", "usot", "cyclesiam")


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def train_once(method: str, out: Path, steps: int | None) -> tuple[float, dict]:
    extra = ["--steps", str(steps)] if steps else []
    started = time.monotonic()
    subprocess.run(["bash", str(REPO / "tools" / "train_shipped.sh"), method, str(out), *extra],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    return seconds, load_checkpoint(out / f"{method}.pt", method).state_dict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", action="append", choices=METHODS,
                        help="method(s) to check (default: every shipped one)")
    parser.add_argument("--steps", type=int, help="shorter runs (skips the shipped comparison)")
    args = parser.parse_args()
    failed = False
    print(f"{'method':<9} {'run 1 s':>8} {'run 2 s':>8}  {'weights sha256':<16}  "
          f"{'1 == 2':<6} {'== shipped':<10}")
    for method in args.method or METHODS:
        with tempfile.TemporaryDirectory(prefix=f"repro_{method}_") as tmp:
            first_s, first = train_once(method, Path(tmp) / "a", args.steps)
            second_s, second = train_once(method, Path(tmp) / "b", args.steps)
        same = same_weights(first, second)
        shipped_verdict = "skipped"
        if not args.steps:
            shipped = load_checkpoint(get_method(method).shipped_checkpoint, method).state_dict
            matches = same_weights(shipped, first)
            shipped_verdict = "yes" if matches else "NO"
            failed |= not matches
        failed |= not same
        print(f"{method:<9} {first_s:8.0f} {second_s:8.0f}  {weights_digest(first)[:16]}  "
              f"{'yes' if same else 'NO':<6} {shipped_verdict:<10}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
