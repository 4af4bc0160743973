import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch

# The course's networks are tiny: one thread is faster and gives the same numbers on every machine
# (train() does the same inside; notebooks set it in their first cell).
torch.set_num_threads(1)
