#!/usr/bin/env bash
# Reproduce a shipped checkpoint: tools/train_shipped.sh METHOD [OUT_DIR] [extra unsup-tracker-train args]
#
# Data: only Debian's opencv-doc footage (installed by `make setup`), never real_dev or any of the
# development benchmark's source files (its photos are left out of the still-image set; its
# backgrounds come from another package). The resulting checkpoint
# records this exact command, the data manifest (file names, sizes, sha256) and the time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
method=${1:?usage: tools/train_shipped.sh udt|s2siamfc|pul [OUT_DIR] [args...]}
out=${2:-runs/$method}
shift $(( $# >= 2 ? 2 : 1 ))
py=.venv/bin/python
# The footage (opencv-doc videos, and its photos minus the development benchmark's) is listed in
# unsup_tracker/training/shipped_data.py; training itself refuses any benchmark file.
data_list=$($py -m unsup_tracker_training.shipped_data "$method") || exit 2
mapfile -t data <<<"$data_list"
case "$method" in
  udt)      args=(--steps 400 --max-minutes 35) ;;
  s2siamfc) args=(--steps 900 --max-minutes 30 --frame-stride 5 --images-as stills) ;;
  pul)      args=(--steps 600 --max-minutes 30) ;;
  *) echo "unknown method $method" >&2; exit 2 ;;
esac
dargs=(); for d in "${data[@]}"; do dargs+=(--data "$d"); done
set -x
exec .venv/bin/unsup-tracker-train --method "$method" "${dargs[@]}" --out "$out" --seed 0 --quiet \
  "${args[@]}" "$@"
