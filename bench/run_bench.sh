#!/usr/bin/env bash
# ds against PyTorch on one GPU, in one job: v3-mini (models/configs/v3-mini.json),
# batch 4 x seq 2048. Prints for each: tokens/s, peak GPU memory, time to first step.
#
#   bench/run_bench.sh DS_TRAIN PLAN_OR_SPEC [STEPS]
#
# ds runs STEPS steps (default 4) with --device cuda, then a run of 3 with DS_CUDA_PROFILE=1
# for the per-kernel and per-class breakdown of steps 2-3 (step 1 pays one-time costs;
# event timing slows a step a little, so the throughput
# comes from the first run). Peak memory is the most nvidia-smi reported while the run
# was alive, sampled every 0.2 s (the whole process: arena, scratch, CUDA context).
# Time to first step: from process start until the first metrics line was written
# (plan load, host initialisation, the upload, and step 1).
# PyTorch: bench/torch_baseline.py model --modes eager,compile (HF DeepseekV3ForCausalLM,
# BF16, grouped_mm experts, SDPA; TORCH_MODES overrides, "none" skips PyTorch). The last
# table puts both side by side; model FLOP utilisation uses the PyTorch script's FLOPs per
# token for both (one count of the same model) against the H100's 989 TFLOP/s dense BF16.
set -u
DS_TRAIN=$1
MODEL=$2
STEPS=${3:-4}
OUT=${OUT:-/tmp/ds-bench}
# The token data (ds-train's built-in default is an absolute path of the build machine).
DATA=${DATA:-data/corpus.txt}
mkdir -p "$OUT"
HERE=$(cd "$(dirname "$0")" && pwd)

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
date -u +"date: %Y-%m-%dT%H:%M:%SZ"

peak_memory_while() { # pid -> prints max MiB used while pid lives
  local pid=$1 peak=0 used
  while kill -0 "$pid" 2>/dev/null; do
    used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
    [ "${used:-0}" -gt "$peak" ] && peak=$used
    sleep 0.2
  done
  echo "$peak"
}

echo "== ds (--device cuda), $STEPS steps"
metrics="$OUT/ds-metrics.jsonl"
rm -f "$metrics"
start=$(date +%s%N)
"$DS_TRAIN" "$MODEL" --steps "$STEPS" --warmup 1 --metrics "$metrics" --device cuda \
  --data "$DATA" --log-every 1 > "$OUT/ds.log" 2>&1 &
pid=$!
peak_memory_while $pid > "$OUT/ds-peak" &
sampler=$!
first=""
while kill -0 $pid 2>/dev/null; do
  if [ -z "$first" ] && [ -s "$metrics" ]; then
    first=$(( ($(date +%s%N) - start) / 1000000 ))
  fi
  sleep 0.05
done
wait $pid
rc=$?
wait $sampler
cat "$OUT/ds.log"
echo "ds exit code: $rc"
if [ -s "$metrics" ]; then
  [ -z "$first" ] && first="(the run ended before the first sample)"
  python3 - "$metrics" "$(cat "$OUT/ds-peak")" "$first" "$OUT/ds-summary.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
later = rows[1:] or rows
tps = sum(r["tokens_per_s"] for r in later) / len(later)
step_s = sum(r["step_s"] for r in later) / len(later)
json.dump({"tokens_per_s": tps, "step_s": step_s, "peak_mib": float(sys.argv[2]),
           "first_step_ms": sys.argv[3]}, open(sys.argv[4], "w"))
print(f"ds: tokens/s {tps:.0f} (mean of steps {later[0]['step']}..{later[-1]['step']}, "
      f"{step_s:.3f} s/step); step 1 {rows[0]['step_s']:.3f} s; peak GPU memory "
      f"{sys.argv[2]} MiB; time to first step {sys.argv[3]} ms; losses "
      + " ".join(f"{r['loss']:.4f}" for r in rows))
PY
fi

echo "== ds per-kernel time (DS_CUDA_PROFILE=1, 3 steps, the first left out)"
DS_CUDA_PROFILE=1 "$DS_TRAIN" "$MODEL" --steps 3 --warmup 1 --device cuda --data "$DATA" \
  --log-every 1 2>&1 | grep -v "^step " | tail -50

rm -f "$OUT/anchors.jsonl"
if [ "${TORCH_MODES:-}" = none ]; then
  echo "== PyTorch skipped (TORCH_MODES=none)"
else
  echo "== PyTorch (bench/torch_baseline.py, modes ${TORCH_MODES:-eager,compile})"
  python3 "$HERE/torch_baseline.py" model --modes ${TORCH_MODES:-eager,compile} --batch 4 \
    --seq 2048 --out "$OUT" > "$OUT/torch.log" 2>&1
  tail -20 "$OUT/torch.log"
fi

echo "== side by side"
python3 - "$OUT/ds-summary.json" "$OUT/anchors.jsonl" <<'PY'
import json, os, sys
ds = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else None
torch_rows = [json.loads(l) for l in open(sys.argv[2])] if os.path.exists(sys.argv[2]) else []
steps = [r for r in torch_rows if r.get("kind") == "train_step" and "tokens_per_s" in r]
flops_per_token = steps[0]["model_tflops"] * 1e12 / steps[0]["tokens_per_s"] if steps else None
rows = []
if ds:
    mfu = ds["tokens_per_s"] * flops_per_token / 989e12 if flops_per_token else float("nan")
    rows.append(("ds", ds["tokens_per_s"], mfu, ds["peak_mib"] / 1024, f'{ds["first_step_ms"]} ms'))
for r in steps:
    rows.append((f'torch {r["mode"]}', r["tokens_per_s"], r["mfu_vs_989"], r["peak_gib"],
                 f'{r["first_step_s"] * 1000:.0f} ms'))
print(f'{"":<28}{"tokens/s":>10}{"MFU":>8}{"peak GiB":>10}{"first step":>14}{"ds/this":>9}')
for name, tps, mfu, peak, first in rows:
    ratio = ds["tokens_per_s"] / tps if ds else float("nan")
    print(f"{name:<28}{tps:>10.0f}{mfu:>8.3f}{peak:>10.2f}{first:>14}{ratio:>9.3f}")
print("ds peak: nvidia-smi, whole process; torch peak: max_memory_allocated. ds first step: "
      "process start to the first metrics line; torch: the first step alone.")
PY
