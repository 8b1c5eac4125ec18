#!/usr/bin/env bash
# Sourced by benchmarks/sbi_tasks_device.sh: installs the benchmark's packages from the carried
# wheel folder .whl/ into /tmp/site (sbi 0.27.0, sbibm 1.1.0, zuko 1.6.0 always; the others
# only where the machine lacks them) and puts /tmp/site and the repository on PYTHONPATH.
# .whl/ (git-ignored) is filled on the development machine with
#   pip download --no-deps -d .whl zuko==1.6.0 sbi==0.27.0 sbibm==1.1.0 pyro-ppl==1.9.1 \
#       pyro-api opt-einsum tqdm joblib threadpoolctl pyparsing cycler python-dateutil six packaging
#   pip wheel --no-deps -w .whl nflows==0.14
#   pip download --no-deps -d .whl --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
#       --platform manylinux_2_28_x86_64 scikit-learn matplotlib contourpy kiwisolver \
#       fonttools pillow pandas pytz tzdata
# (the sbibm wheel may be trimmed of the reference files of tasks not benchmarked here:
#  gaussian_linear_uniform, lotka_volterra, sir; that keeps .whl under ~60 MB).
python3 - <<'PY'
import importlib.util, subprocess, sys
always = ["zuko", "sbi", "sbibm"]
if_missing = {  # module -> distribution
    "nflows": "nflows", "pyro": "pyro-ppl", "pyroapi": "pyro-api", "opt_einsum": "opt-einsum",
    "tqdm": "tqdm", "joblib": "joblib", "threadpoolctl": "threadpoolctl",
    "sklearn": "scikit-learn", "matplotlib": "matplotlib", "contourpy": "contourpy",
    "cycler": "cycler", "kiwisolver": "kiwisolver", "fontTools": "fonttools",
    "pyparsing": "pyparsing", "dateutil": "python-dateutil", "six": "six", "PIL": "pillow",
    "packaging": "packaging", "pandas": "pandas", "pytz": "pytz", "tzdata": "tzdata",
}
dists = always + [d for m, d in if_missing.items() if importlib.util.find_spec(m) is None]
print("installing from .whl:", " ".join(dists), flush=True)
subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                "--find-links", ".whl", "--target", "/tmp/site", *dists], check=False)
PY
export PYTHONPATH=/tmp/site:$PWD:${PYTHONPATH:-}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NEURODYN_PROGRESS=0
python3 -c "import torch, sbi, zuko, sbibm, neurodyn; print('torch', torch.__version__, 'sbi', sbi.__version__, 'zuko', zuko.__version__, 'cores', __import__('os').cpu_count())"
