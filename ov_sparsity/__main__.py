import sys

from ov_sparsity.entry import run

sys.exit(run())
