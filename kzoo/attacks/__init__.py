"""Adversarial attacks written once with ``keras.ops`` (usable inside ``train_step``).

NumPy inputs give NumPy results on every backend; backend tensors give backend tensors.
"""

from kzoo.attacks.pgd import fgsm, pgd, pgd_with_predictions

__all__ = ["fgsm", "pgd", "pgd_with_predictions"]
