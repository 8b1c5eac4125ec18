"""Probe: neurodyn's automatic MAF with sbi/nflows-style pieces swapped in, on sbibm tasks.

``MAFV`` (environment) picks the variant: ``soft`` = nflows 0.14's affine scale
``softplus(a) + 1e-3`` instead of zuko's ``exp`` of a soft-clamped log-scale; ``perm`` = zuko's
random permutations between MADEs (``randperm=True``); ``softperm`` = both. Everything else
is ``benchmarks/sbi_tasks.py`` (same arguments), whose ``neurodyn`` method then trains the
patched MAF. Used in session 8 on bernoulli_glm at 10^5 (``benchmarks/RESULTS.md``)::

    MAFV=perm python benchmarks/npe_maf_probe.py --tasks bernoulli_glm --budgets 100000 \
        --seeds 0 --methods neurodyn --num-observations 10 --out probe_perm.json
"""

import os
import sys

import torch
import zuko
from zuko.transforms import MonotonicAffineTransform, Transform

import neurodyn.inference.estimator as est

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


class SoftplusAffine(MonotonicAffineTransform):
    """``x * (softplus(a) + 1e-3) + b``: the affine layer of nflows 0.14 (sbi's MAF)."""

    def __init__(self, shift, scale, slope=1e-3, **kw):
        Transform.__init__(self, **kw)
        self.shift = shift
        self.scale = torch.nn.functional.softplus(scale) + 1e-3
        self.log_scale = self.scale.log()


def patched_build_flow(variant: str):
    orig = est.build_flow

    def build_flow(config, num_params, context):
        config = config.resolve(None, num_params)
        if config.estimator != "maf":
            return orig(config, num_params, context)
        kw = dict(
            transforms=config.num_transforms,
            hidden_features=(config.hidden_features,) * 2,
            activation=est._ACTIVATIONS[config.activation],
        )
        if "soft" in variant:
            kw |= dict(univariate=SoftplusAffine, shapes=[(), ()])
        if "perm" in variant:
            kw |= dict(randperm=True)
        return zuko.flows.MAF(num_params, context, **kw)

    return build_flow


def main() -> None:
    est.build_flow = patched_build_flow(os.environ["MAFV"])
    import sbi_tasks

    sys.argv = ["sbi_tasks.py", *sys.argv[1:]]
    sbi_tasks.main()


if __name__ == "__main__":
    main()
