#!/usr/bin/env bash
# CPU latency of every variant on every CPU backend at 1024x2048, batch 1, 2 threads (the issue's protocol).
# Results land in benchmarks/results/<model>.cityscapes/ (read by the model cards; `dabnet-zoo cards` after this).
set -euo pipefail
cd "$(dirname "$0")/.."
models=${MODELS:-"dabnet_r18_p2 dabnet_r18_p1 dabnet_r18_p4 dabnet_r18_p8 dabnet_r18_p16 dabnet_effb1"}
backends=${BACKENDS:-"eager optimized onnxruntime compile"}
for backend in $backends; do
  for model in $models; do
    dabnet-zoo benchmark "$model" --backend "$backend" --size 1024x2048 --threads 2 \
      --warmup 2 --iterations 5 --no-progress --save
  done
done
