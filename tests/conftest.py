import torch
from hypothesis import settings

torch.set_num_threads(2)
# Property tests draw the same examples on every run and machine: a failure reproduces, CI is not a lottery.
settings.register_profile("fixed", derandomize=True, print_blob=True)
settings.load_profile("fixed")
