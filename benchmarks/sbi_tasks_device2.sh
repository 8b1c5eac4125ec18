#!/usr/bin/env bash
# Second device call: 10^5-simulation runs (CPU, 1 thread per process; GPU with large batches)
# and the slow eLife HH test (10^5 HH simulations on the GPU, NPE training on the CPU).
set -u
# (superseded for the sbibm tables by PART=1e5 bash benchmarks/sbi_tasks_device.sh; kept for
#  the eLife HH slow test)
source benchmarks/sbi_tasks_device_setup.sh
export NEURODYN_PROGRESS=0
LIMIT=${LIMIT:-330}
mkdir -p "$OUT/parts"
for t in gaussian_linear two_moons slcp gaussian_mixture bernoulli_glm; do
  OMP_NUM_THREADS=1 timeout $LIMIT python3 benchmarks/sbi_tasks.py --tasks $t --budgets 100000 \
    --num-observations 3 --methods neurodyn_maf neurodyn_nsf sbi --threads 1 \
    --out "$OUT/parts/cpu_${t}_1e5.json" > "$OUT/parts/cpu_${t}_1e5.log" 2>&1 &
done
OMP_NUM_THREADS=1 timeout $LIMIT python3 benchmarks/sbi_tasks.py --tasks two_moons slcp gaussian_mixture \
  --budgets 100000 --num-observations 3 --methods neurodyn --device cuda --threads 1 --out "$OUT/parts/gpu_1e5.json" > "$OUT/parts/gpu_1e5.log" 2>&1 &
timeout $LIMIT python3 -m pytest -q -m slow tests/inference/test_hh_elife.py -s -p no:cacheprovider \
  > "$OUT/hh_test.log" 2>&1
echo "hh test rc=$?"
wait
python3 benchmarks/sbi_tasks.py --merge $OUT/parts/cpu_*.json --out "$OUT/sbi_tasks_cpu16_1e5.json" > "$OUT/table_1e5.md" 2>&1
python3 benchmarks/sbi_tasks.py --merge $OUT/parts/gpu_1e5.json --out "$OUT/sbi_tasks_gpu_1e5.json" >> "$OUT/table_1e5.md" 2>&1
cat $OUT/parts/*.log > "$OUT/logs2.txt"
rm -rf "$OUT/parts"
cat "$OUT/table_1e5.md"; tail -30 "$OUT/hh_test.log"
