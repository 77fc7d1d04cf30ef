"""The numba kernels (sfmed_trainer.kernels) for the CPU fast paths, loaded once; None where numba is missing."""

from __future__ import annotations

# None: not tried yet; False: numba could not be imported (tests set it to force the torch paths).
KERNELS = None


def kernels():
    """sfmed_trainer.kernels (numba), or None when numba cannot be imported."""
    global KERNELS
    if KERNELS is None:
        try:
            from .. import kernels as loaded
        except ImportError:
            loaded = False
        KERNELS = loaded
    return KERNELS or None
