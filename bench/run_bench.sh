#!/usr/bin/env bash
# ds against PyTorch on one GPU, in one job: v3-mini (models/configs/v3-mini.json),
# batch 4 x seq 2048. Prints for each: tokens/s, peak GPU memory, time to first step.
#
#   bench/run_bench.sh DS_TRAIN PLAN_OR_SPEC [STEPS]
#
# ds runs STEPS steps (default 4) with --device cuda, then 2 more with DS_CUDA_PROFILE=1
# for the per-kernel breakdown (event timing slows a step a little, so the throughput
# comes from the first run). Peak memory is the most nvidia-smi reported while the run
# was alive, sampled every 0.2 s (the whole process: arena, scratch, CUDA context).
# Time to first step: from process start until the first metrics line was written
# (plan load, host initialisation, the upload, and step 1).
# PyTorch: bench/torch_baseline.py model --modes eager (HF DeepseekV3ForCausalLM, BF16).
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
  python3 - "$metrics" "$(cat "$OUT/ds-peak")" "$first" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
later = rows[1:] or rows
tps = sum(r["tokens_per_s"] for r in later) / len(later)
step_s = sum(r["step_s"] for r in later) / len(later)
print(f"ds: tokens/s {tps:.0f} (mean of steps {later[0]['step']}..{later[-1]['step']}, "
      f"{step_s:.3f} s/step); step 1 {rows[0]['step_s']:.3f} s; peak GPU memory "
      f"{sys.argv[2]} MiB; time to first step {sys.argv[3]} ms; losses "
      + " ".join(f"{r['loss']:.4f}" for r in rows))
PY
fi

echo "== ds per-kernel time (DS_CUDA_PROFILE=1, 2 steps)"
DS_CUDA_PROFILE=1 "$DS_TRAIN" "$MODEL" --steps 2 --warmup 1 --device cuda --data "$DATA" --log-every 1 2>&1 | tail -40

echo "== PyTorch eager (bench/torch_baseline.py)"
python3 "$HERE/torch_baseline.py" model --modes ${TORCH_MODES:-eager} --batch 4 --seq 2048 --out "$OUT" 2>&1 | tail -20
