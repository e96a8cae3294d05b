"""Metrics: classification and generative (NumPy), robustness under attack, PNG figures."""

from kzoo.metrics.classification import (
    accuracy,
    balanced_accuracy,
    classification_report,
    confusion_matrix,
    per_class_accuracy,
    predict_proba,
    shot_accuracy,
    shot_groups,
    worst_group_accuracy,
)
from kzoo.metrics.features import ClassifierFeatures, InceptionFeatures
from kzoo.metrics.generative import (
    feature_statistics,
    frechet_distance,
    frechet_distance_of,
    inception_score,
    kernel_inception_distance,
    mixture_report,
)
from kzoo.metrics.generator import feature_preset, generate, generator_report, latent_batch
from kzoo.metrics.plots import plot_confusion_matrix, plot_history, plot_samples
from kzoo.metrics.robustness import (
    autoattack_accuracy,
    autoattack_available,
    plot_robust_accuracy,
    robust_accuracy,
)

__all__ = [
    "ClassifierFeatures",
    "autoattack_accuracy",
    "autoattack_available",
    "InceptionFeatures",
    "accuracy",
    "balanced_accuracy",
    "classification_report",
    "confusion_matrix",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_of",
    "generate",
    "feature_preset",
    "generator_report",
    "inception_score",
    "kernel_inception_distance",
    "latent_batch",
    "mixture_report",
    "per_class_accuracy",
    "plot_confusion_matrix",
    "plot_history",
    "plot_robust_accuracy",
    "plot_samples",
    "predict_proba",
    "robust_accuracy",
    "shot_accuracy",
    "shot_groups",
    "worst_group_accuracy",
]
