"""Adversarial attacks written once with ``keras.ops`` (usable inside ``train_step``)."""

from kzoo.attacks.pgd import fgsm, pgd, pgd_with_predictions

__all__ = ["fgsm", "pgd", "pgd_with_predictions"]
