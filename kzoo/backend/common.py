"""Helpers shared by the backend implementations (no framework imports)."""


def split_output(out):
    """``fn()`` may return ``loss`` or ``(loss, aux)``."""
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None


def unchanged(step):
    """``step`` as it is: a backend whose trainer calls ``step(self, data)``."""
    return step


def no_sync(model):
    """Nothing to do: a backend whose variables are the trainer's state."""
    del model
