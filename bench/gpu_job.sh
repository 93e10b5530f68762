#!/usr/bin/env bash
# The GPU checks of issue 6 as one job, in two halves:
#
#   bench/gpu_job.sh prepare   # here (needs ds-compile, i.e. MLIR): build the CUDA tree in
#                              # build-gpu, compile the plans into build-gpu/plans, copy libomp
#   bench/gpu_job.sh run       # on the GPU machine, over a copy that carries build-gpu/bin,
#                              # build-gpu/lib and build-gpu/plans (build-gpu itself is over
#                              # the 64 MiB a device call carries)
#
# `run` executes every gpu test (DsGpuTests), v3-tiny CPU vs GPU for 50 steps at fp32, bf16
# and bf16 parameters (test/gpu/tiny_cpu_vs_gpu.py), CUDA-graph replay against
# kernel-by-kernel launches (test/gpu/graph_vs_eager.py), and the v3-mini benchmark
# (bench/run_bench.sh): ds alone on each plan of DS_PLANS (default "mini-bf16-params
# mini-bf16-act-nomtp"), then ds on COMPARE_PLAN (default mini-bf16-params-nomtp: the recipe
# and graph PyTorch trains) beside PyTorch eager and torch.compile. TORCH_MODES=none leaves
# PyTorch out, SKIP_CHECKS=1 the tests and checks. Results go to $OUT (default
# /tmp/ds-gpu-job); record them in bench/results/ with the command, GPU and date.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD_GPU:-build-gpu}
case "${1:-}" in
prepare)
  set -e
  if [ ! -f "$BUILD/build.ninja" ]; then
    cmake -G Ninja -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
      -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir
  fi
  ninja -C "$BUILD" DsGpuTests ds-train ds-compile
  rm -rf "$BUILD/plans"
  mkdir -p "$BUILD/plans" "$BUILD/lib"
  cp /usr/lib/llvm-22/lib/libomp.so.5 "$BUILD/lib/"
  for p in fp32 bf16; do
    "$BUILD/bin/ds-compile" models/configs/v3-tiny.json --precision $p -o "$BUILD/plans/tiny-$p.dsplan"
  done
  # v3-tiny with BF16 parameters (no FP32 master copy), for the CPU-vs-GPU check.
  "$BUILD/bin/ds-compile" models/configs/v3-tiny.json --precision bf16 --params bf16 \
    -o "$BUILD/plans/tiny-bf16-params.dsplan"
  # The benchmark plans, all with BF16 products and BF16 AdamW moments:
  #   mini-bf16               FP32 master weights and activations, the spec's MTP module
  #   mini-bf16-act-nomtp     FP32 master weights, BF16 activations (--activations bf16),
  #                           no MTP (--mtp-depth 0)
  #   mini-bf16-params        BF16 parameters, gradients, moments and activations
  #                           (--params bf16), with MTP
  #   mini-bf16-params-nomtp  the same without MTP: the recipe and the graph of the PyTorch
  #                           baseline (model.to(torch.bfloat16), fused AdamW with BF16
  #                           state; HF's DeepseekV3ForCausalLM has no MTP module)
  MINI="models/configs/v3-mini.json --batch 4 --seq 2048 --precision bf16 --adam-moments bf16"
  "$BUILD/bin/ds-compile" $MINI -o "$BUILD/plans/mini-bf16.dsplan"
  "$BUILD/bin/ds-compile" $MINI --activations bf16 --mtp-depth 0 \
    -o "$BUILD/plans/mini-bf16-act-nomtp.dsplan"
  "$BUILD/bin/ds-compile" $MINI --params bf16 -o "$BUILD/plans/mini-bf16-params.dsplan"
  "$BUILD/bin/ds-compile" $MINI --params bf16 --mtp-depth 0 \
    -o "$BUILD/plans/mini-bf16-params-nomtp.dsplan"
  # ds-compile links libLLVM and does not run on the GPU machine; keep the carried folder small.
  rm -f "$BUILD/bin/ds-compile"
  du -sh "$BUILD"
  ;;
run)
  OUT=${OUT:-/tmp/ds-gpu-job}
  mkdir -p "$OUT"
  export LD_LIBRARY_PATH=$PWD/$BUILD/lib:${LD_LIBRARY_PATH:-}
  nvidia-smi -L
  if [ "${SKIP_CHECKS:-0}" != 1 ]; then
  echo "=== DsGpuTests"
  timeout 240 "$BUILD/bin/DsGpuTests" > "$OUT/gpu-tests.log" 2>&1
  grep -E "^\[  FAILED|^\[  PASSED|^\[==========\]|Failure" "$OUT/gpu-tests.log" | head -40
  # The bounds of test/gpu/CMakeLists.txt's gpu.tiny_cpu_vs_gpu and _bf16 (reasons there).
  echo "=== v3-tiny CPU vs GPU, fp32"
  timeout 150 python3 test/gpu/tiny_cpu_vs_gpu.py "$BUILD/bin/ds-train" \
    "$BUILD/plans/tiny-fp32.dsplan" --steps 50 -- --data data/corpus.txt 2>&1 | tail -3
  echo "=== v3-tiny CPU vs GPU, bf16"
  timeout 150 python3 test/gpu/tiny_cpu_vs_gpu.py "$BUILD/bin/ds-train" \
    "$BUILD/plans/tiny-bf16.dsplan" --steps 50 --rtol 0.03 --tight-steps 5 --tight-rtol 2e-3 \
    -- --data data/corpus.txt 2>&1 | grep -E "^ +[1-5] |^ +(2[5-9]|30) |first|PASS|FAIL"
  echo "=== v3-tiny CPU vs GPU, bf16 parameters"
  timeout 150 python3 test/gpu/tiny_cpu_vs_gpu.py "$BUILD/bin/ds-train" \
    "$BUILD/plans/tiny-bf16-params.dsplan" --steps 50 --rtol 0.03 --window 10 \
    --tight-steps 10 --tight-rtol 2e-3 -- --data data/corpus.txt 2>&1 |
    grep -E "^ +([1-9]|10|2[5-9]) |first|PASS|FAIL"
  echo "=== CUDA graph replay against kernel-by-kernel launches"
  timeout 120 python3 test/gpu/graph_vs_eager.py "$BUILD/bin/ds-train" \
    "$BUILD/plans/tiny-bf16.dsplan" -- --data data/corpus.txt 2>&1 | tail -3
  timeout 120 python3 test/gpu/graph_vs_eager.py "$BUILD/bin/ds-train" \
    "$BUILD/plans/tiny-fp32.dsplan" --expect-eager -- --data data/corpus.txt 2>&1 | tail -3
  fi
  # ds alone on the other plans, then the comparison: ds on $COMPARE_PLAN beside PyTorch
  # (TORCH_MODES=none leaves PyTorch out; SKIP_CHECKS=1 leaves out everything above).
  for plan in ${DS_PLANS-mini-bf16-params mini-bf16-act-nomtp}; do
    echo "=== v3-mini, ds only: $plan"
    OUT=$OUT/bench-$plan TORCH_MODES=none timeout 150 bash bench/run_bench.sh \
      "$BUILD/bin/ds-train" "$BUILD/plans/$plan.dsplan" 6 2>&1 |
      grep -E "^ds:|^  [a-z]|by kernel class|CUDA graph|^ds +[0-9]" | head -24
  done
  plan=${COMPARE_PLAN:-mini-bf16-params-nomtp}
  echo "=== v3-mini bench: ds on $plan beside PyTorch"
  OUT=$OUT/bench timeout 330 bash bench/run_bench.sh "$BUILD/bin/ds-train" \
    "$BUILD/plans/$plan.dsplan" 6 2>&1 | tail -75
  ;;
*)
  echo "usage: bench/gpu_job.sh prepare|run" >&2
  exit 2
  ;;
esac
