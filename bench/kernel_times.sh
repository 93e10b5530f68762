#!/usr/bin/env bash
# The CUDA kernels inside ds launches, timed one by one with Nsight Compute: where
# DS_CUDA_PROFILE=1 gives a ds kernel's total (e.g. combine_grad), this names the CUDA
# kernels it is made of (sort, scatter, dot products) and their times.
#
#   bench/kernel_times.sh DS_TRAIN PLAN REGEX [COUNT]
#
# Runs 2 steps launch by launch (DS_CUDA_GRAPH=0) under ncu (its CSV goes to
# $OUT/ncu.log), profiling the first COUNT (default 200) CUDA kernels whose names match
# REGEX, and prints for each name its launches, median and total duration
# (gpu__time_duration). ncu serialises and replays each kernel, so the times are of each
# kernel alone, on warm caches: a floor-style view, not step time.
set -u
DS_TRAIN=$1
PLAN=$2
REGEX=$3
COUNT=${4:-200}
OUT=${OUT:-/tmp/ds-kernel-times}
DATA=${DATA:-data/corpus.txt}
mkdir -p "$OUT"
DS_CUDA_GRAPH=0 ncu --kernel-name "regex:$REGEX" --launch-count "$COUNT" \
  --metrics gpu__time_duration.sum --csv --log-file "$OUT/ncu.log" \
  "$DS_TRAIN" "$PLAN" --steps 2 --warmup 1 --device cuda --data "$DATA" --log-every 1 \
  > "$OUT/ds.out" 2> "$OUT/ds.err"
rc=$?
if [ $rc -ne 0 ]; then
  echo "ncu exited with $rc"; tail -5 "$OUT/ds.err" "$OUT/ncu.log"
fi
python3 - "$OUT/ncu.log" <<'PY'
import csv, statistics, sys
rows = [l for l in open(sys.argv[1]) if l.startswith('"')]
times = {}
for r in csv.DictReader(rows):
    if r.get("Metric Name") != "gpu__time_duration.sum":
        continue
    name = r["Kernel Name"].replace("void ", "").replace("(anonymous namespace)::", "")
    name = name.replace("<unnamed>::", "")
    name = name.split("(")[0].split("<")[0].split("::")[-1][:60]
    value = float(r["Metric Value"].replace(",", ""))
    scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3,
             "msecond": 1e3}.get(r["Metric Unit"], 1.0)
    times.setdefault(name, []).append(value * scale)
print(f"{'kernel':<60}{'launches':>9}{'median us':>11}{'total us':>11}")
for name, ts in sorted(times.items(), key=lambda kv: -sum(kv[1])):
    print(f"{name:<60}{len(ts):>9}{statistics.median(ts):>11.1f}{sum(ts):>11.1f}")
PY
