"""Stratified splitting shared by the loaders."""

import numpy as np

from kzoo.data.dataset import Dataset, index_hash

VAL_SHARE = 0.1


def carve_validation(name, x_train, y_train, x_test, y_test, class_names, seed, extra=None):
    """Splits a stratified ``VAL_SHARE`` of train off as validation; returns a Dataset."""
    from sklearn.model_selection import train_test_split  # here: importing kzoo.data is fast

    idx = list(range(len(y_train)))
    counts = np.bincount(y_train, minlength=len(class_names))
    # Stratify unless the set is too small for it (e.g. a few mock examples).
    can_stratify = counts.min() >= 2 and VAL_SHARE * len(idx) >= len(class_names)
    tr, va = train_test_split(idx, test_size=VAL_SHARE, random_state=seed,
                              stratify=y_train if can_stratify else None)
    step = {"name": name, "seed": seed, "train_index": index_hash(tr), "val_index": index_hash(va),
            **(extra or {})}
    return Dataset(
        x_train[tr], y_train[tr], x_train[va], y_train[va], x_test, y_test,
        num_classes=len(class_names), class_names=tuple(class_names), provenance=(step,),
    )
