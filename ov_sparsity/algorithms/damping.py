"""The damping every second-order solve adds to a layer's input Gram matrix H, as a share of mean diag H."""

DAMPING = 0.01  # on calibration images: SparseGPT's and GPTQ's default; keeps H invertible where inputs are dead
SYNTHETIC_DAMPING = 0.3  # on synthetic images (fractals, noise): their Hessians are trusted less (docs/fractals.md)
SYNTHETIC_REFIT_DAMPING = 1.0  # UDFC's refit on synthetic statistics leans on the closed form's weights
# (ResNet-56, 30%, fractals: 71.91 / 72.80 / 73.28 top-1 at damping 0.01 / 0.1 / 1.0)
