"""Helpers shared by the backend implementations (no framework imports)."""


def split_output(out):
    """``fn()`` may return ``loss`` or ``(loss, aux)``."""
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None
