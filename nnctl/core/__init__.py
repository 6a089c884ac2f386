"""The notes' mathematics, NumPy only: activations, losses, the network, initializers,
optimizers, schedules, the training loop and metrics. Nothing here imports the rest of
nnctl but ``errors`` and ``registry``, so the core reads (and tests) on its own.
"""
