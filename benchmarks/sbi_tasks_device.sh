#!/usr/bin/env bash
# One device call: the CPU grid (10 independent 1-thread processes, 16-core host) and the
# GPU timings of neurodyn NPE, all written to $OUT. Usage on the device machine (repo root):
#   bash benchmarks/sbi_tasks_device.sh   (needs .whl and .carry/sbiwhl carried)
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/zuko-*.whl .carry/sbiwhl/*.whl
export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NEURODYN_PROGRESS=0
LIMIT=${LIMIT:-320}
mkdir -p "$OUT/parts"
nproc; python3 -c "import torch, sbi, zuko, sbibm; print(torch.__version__, sbi.__version__, zuko.__version__, torch.cuda.get_device_name(0))"
for t in gaussian_linear two_moons slcp gaussian_mixture bernoulli_glm; do
  for b in 1000 10000; do
    timeout $LIMIT python3 benchmarks/sbi_tasks.py --tasks $t --budgets $b --num-observations 10 \
      --methods neurodyn neurodyn_maf sbi --threads 1 --out "$OUT/parts/cpu_${t}_${b}.json" \
      > "$OUT/parts/cpu_${t}_${b}.log" 2>&1 &
  done
done
timeout $LIMIT python3 benchmarks/sbi_tasks.py --tasks two_moons slcp --budgets 10000 100000 \
  --num-observations 3 --methods neurodyn --device cuda --threads 1 \
  --out "$OUT/parts/gpu.json" > "$OUT/parts/gpu.log" 2>&1 &
wait
python3 benchmarks/sbi_tasks.py --merge $OUT/parts/cpu_*.json --out "$OUT/sbi_tasks_cpu16.json" > "$OUT/table_cpu.md" 2>&1
python3 benchmarks/sbi_tasks.py --merge $OUT/parts/gpu.json --out "$OUT/sbi_tasks_gpu.json" > "$OUT/table_gpu.md" 2>&1
cat $OUT/parts/*.log > "$OUT/logs.txt"
rm -rf "$OUT/parts"
cat "$OUT/table_cpu.md" "$OUT/table_gpu.md"
