#!/usr/bin/env bash
# neurodyn (NPEConfig defaults) vs sbi 0.27 NPE on the sbibm tasks, on the 16-core CPU host of
# the device machine: independent 1-thread processes (one per task, budget, seed, method),
# JOBS at a time, longest first; results and tables under $OUT. One call per PART, each under
# 10 minutes:
#   PART=main        10^3 and 10^4, seeds 0 1 2, 10 observations: neurodyn and sbi
#   PART=candidates  10^3 and 10^4, seed 0, 10 observations: the fixed-setting variants
#   PART=1e5         10^5, seed 0, 3 observations: neurodyn and sbi (sbi stopped at SBI_LIMIT s)
# Usage (repository root, .whl/ carried): PART=main bash benchmarks/sbi_tasks_device.sh
# On a machine that has the packages installed already (e.g. the 2-core development VM):
#   NO_SETUP=1 OUT=/tmp/sbi_main JOBS=2 WALL=100000 PART=main bash benchmarks/sbi_tasks_device.sh
set -u
: "${OUT:?set OUT to the output folder}"
if [ "${NO_SETUP:-0}" = 1 ]; then
  export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NEURODYN_PROGRESS=0
else
  source benchmarks/sbi_tasks_device_setup.sh
fi
PART=${PART:-main}
JOBS=${JOBS:-14}
WALL=${WALL:-540}
mkdir -p "$OUT/parts"
TASKS="two_moons slcp bernoulli_glm gaussian_linear gaussian_mixture"
jobs_file=$(mktemp)
case "$PART" in
  main)
    for b in ${BUDGETS:-10000 1000}; do for m in sbi neurodyn; do for s in 0 1 2; do for t in $TASKS; do
      echo "$t $b $s $m 10 0"; done; done; done; done > "$jobs_file" ;;
  candidates)
    for b in 10000 1000; do for m in neurodyn_nsf neurodyn_nsf3_b2048 neurodyn_maf_b2048 neurodyn_maf; do
      for t in $TASKS; do echo "$t $b 0 $m 10 0"; done; done; done > "$jobs_file" ;;
  1e5)
    for m in sbi neurodyn; do for t in $TASKS; do
      echo "$t 100000 0 $m 3 ${SBI_LIMIT:-420}"; done; done > "$jobs_file" ;;
  *) echo "unknown PART=$PART"; exit 2 ;;
esac
echo "$(wc -l < "$jobs_file") jobs, $JOBS at a time"
run_one() {  # task budget seed method num_observations sbi_time_limit
  local left=$((START + WALL - $(date +%s)))
  if [ "$left" -lt 60 ]; then echo "skipped: $*" > "$OUT/parts/$1_$2_$3_$4.log"; return 0; fi
  timeout "$left" python3 benchmarks/sbi_tasks.py --tasks "$1" --budgets "$2" --seeds "$3" --methods "$4" \
    --num-observations "$5" --time-limit "$6" --threads 1 \
    --out "$OUT/parts/$1_$2_$3_$4.json" > "$OUT/parts/$1_$2_$3_$4.log" 2>&1
}
START=$(date +%s)
export -f run_one
export OUT START WALL
xargs -P "$JOBS" -L 1 bash -c 'run_one "$@"' _ < "$jobs_file"
echo "xargs rc=$? after $(( $(date +%s) - START )) s"
python3 benchmarks/sbi_tasks.py --merge "$OUT"/parts/*.json --out "$OUT/sbi_tasks_cpu16_$PART.json" \
  > "$OUT/table_$PART.md" 2>&1
python3 benchmarks/sbi_tasks.py --summarise "$OUT/sbi_tasks_cpu16_$PART.json" \
  >> "$OUT/table_$PART.md" 2>&1
tail -n 3 "$OUT"/parts/*.log > "$OUT/logs_$PART.txt" 2>&1
rm -rf "$OUT/parts"
cat "$OUT/table_$PART.md"
