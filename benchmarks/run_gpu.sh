#!/usr/bin/env bash
# GPU latency of every variant at Cityscapes' test size 1024x2048, batch 1, resize + argmax included (the
# issue's protocol): PyTorch eager and torch.compile (CUDA graphs) in FP32/FP16/BF16; TensorRT FP32/FP16 where
# tensorrt imports; ONNX Runtime where onnxruntime-gpu is installed. Results land in
# benchmarks/results/<model>.cityscapes/ (read by the model cards: `dabnet-zoo cards` after this).
set -euo pipefail
cd "$(dirname "$0")/.."
models=${MODELS:-all}
run() {
  # shellcheck disable=SC2086  # $models is a list of names
  dabnet-zoo benchmark $models --device cuda --size 1024x2048 --include-postprocess --no-progress --save "$@"
}
for precision in fp32 fp16 bf16; do
  run --backend eager --precision "$precision"
  run --backend compile --precision "$precision"
done
if python -c "import tensorrt" 2>/dev/null; then
  for precision in fp32 fp16; do run --backend tensorrt --precision "$precision"; done
else
  echo "tensorrt does not import here: TensorRT rows skipped (pip install tensorrt)" >&2
fi
if python -c "import onnxruntime as ort, sys; sys.exit('CUDAExecutionProvider' not in ort.get_available_providers())"; then
  for precision in fp32 fp16; do run --backend onnxruntime --precision "$precision"; done
else
  echo "onnxruntime has no CUDA provider here: ONNX Runtime rows skipped (pip install onnxruntime-gpu)" >&2
fi
# Cross-check of the TensorRT rows with NVIDIA's own timer, on the same FP16 graph (logs next to the results).
if command -v trtexec >/dev/null; then
  mkdir -p benchmarks/results/trtexec
  typed=$(trtexec --help 2>&1 | grep -q -- "--stronglyTyped" && echo "--stronglyTyped" || true)
  for model in ${MODELS_TRTEXEC:-dabnet_r18_p2 dabnet_r18_p8 dabnet_effb1}; do
    onnx="benchmarks/results/trtexec/${model}_fp16_resize-argmax.onnx"
    dabnet-zoo export onnx "$model" "$onnx" --static --fp16 --include-postprocess --size 1024x2048
    trtexec --onnx="$onnx" $typed --warmUp=2000 --duration=10 --useSpinWait --noDataTransfers \
      > "benchmarks/results/trtexec/${model}_fp16_resize-argmax.txt" 2>&1
    rm -f "$onnx"
  done
fi
