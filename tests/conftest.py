import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch

# The course's networks are tiny: one thread is faster, and a run does not depend on the number of cores
# (train() does the same inside; notebooks set it in their first cell). It still depends on the CPU's
# instruction set, so tests of training claims use many seeds and margins (marker `claims`).
torch.set_num_threads(1)
