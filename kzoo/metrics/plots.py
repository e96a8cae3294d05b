"""PNG figures: confusion matrices, training curves, sample grids and scatters."""

import textwrap

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion_matrix(cm, class_names, path, title="Confusion matrix"):
    """Saves a row-normalised confusion matrix with counts as a PNG."""
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.5 * n, 0.8 + 0.5 * n))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if rates[i, j] > 0.5 else "black")
    ax.set(xticks=range(n), yticks=range(n), xticklabels=class_names, yticklabels=class_names,
           xlabel="predicted", ylabel="true", title=title)
    if max(len(str(c)) for c in class_names) > 3:  # names, not digits: slanted, apart
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right", rotation_mode="anchor")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_history(history, path, title="Training"):
    """Saves every logged curve of a ``History.history`` dict, one panel per metric."""
    names = sorted({k.removeprefix("val_") for k in history})
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in history:
                ax.plot(np.arange(1, len(history[key]) + 1), history[key], style, label=key)
        ax.set(xlabel="epoch", title=name)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def epsilon_shares(epsilon, y, num_classes, noisy=None):
    """Share of samples with a positive (adversarial) perturbation, per class and, given a
    boolean ``noisy`` mask, among noisy and clean samples."""
    positive = np.asarray(epsilon) > 0
    y = np.asarray(y)
    shares = {"per_class": [float(positive[y == c].mean()) if (y == c).any() else float("nan")
                            for c in range(num_classes)]}
    if noisy is not None:
        noisy = np.asarray(noisy, bool)
        shares["noisy"] = float(positive[noisy].mean()) if noisy.any() else float("nan")
        shares["clean"] = float(positive[~noisy].mean()) if (~noisy).any() else float("nan")
    return shares


def plot_epsilon_shares(history, path, title="Adversarial (eps > 0) share"):
    """Plots ``epsilon_shares`` per epoch: one line per class, and noisy vs clean when known.

    ``history`` is a list of ``epsilon_shares`` dicts, one per epoch.
    """
    epochs = np.arange(1, len(history) + 1)
    per_class = np.array([h["per_class"] for h in history])
    noisy = "noisy" in history[0]
    fig, axes = plt.subplots(1, 2 if noisy else 1, figsize=(10 if noisy else 5.5, 3.5),
                             squeeze=False)
    colours = plt.cm.viridis(np.linspace(0, 1, per_class.shape[1]))
    for c in range(per_class.shape[1]):
        axes[0, 0].plot(epochs, per_class[:, c], color=colours[c], label=f"class {c}")
    axes[0, 0].set(xlabel="epoch", ylabel="share with eps > 0", ylim=(-0.02, 1.02),
                   title="per class")
    axes[0, 0].legend(fontsize=7, ncol=2)
    if noisy:
        for key, style in (("noisy", "r-"), ("clean", "b-")):
            axes[0, 1].plot(epochs, [h[key] for h in history], style, label=f"{key} labels")
        axes[0, 1].set(xlabel="epoch", ylim=(-0.02, 1.02), title="noisy vs clean labels")
        axes[0, 1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_samples(samples, path, title="Samples", real=None, columns=None):
    """Saves generator samples: images (n, h, w, c) in [0, 1] as a grid, or 2-D points
    (n, 2) as a scatter over the ``real`` points (grey) when given."""
    x = np.asarray(samples, "float32")
    if x.ndim == 2 and x.shape[1] == 2:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        if real is not None:
            ax.scatter(*np.asarray(real)[:, :2].T, s=2, c="0.75", label="data")
        ax.scatter(*x.T, s=2, c="tab:blue", label="samples")
        ax.set(aspect="equal")
        ax.legend(fontsize=8, markerscale=4, loc="upper right")
    elif x.ndim == 4 and x.shape[-1] in (1, 3):
        grid = image_grid(x, columns)
        rows, cols = (np.array(grid.shape[:2]) - 1) // (np.array(x.shape[1:3]) + 1)
        fig, ax = plt.subplots(figsize=(max(0.35 * cols + 0.5, 2.5), 0.35 * rows + 0.9))
        show_grid(ax, grid)
    else:
        raise ValueError(f"plot_samples takes images (n, h, w, 1 or 3) or points (n, 2); "
                         f"got shape {x.shape}.")
    ax.set_title(textwrap.fill(title, int(fig.get_figwidth() * 9)))  # fits the figure
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def image_grid(images, columns=None):
    """Images (n, h, w, c) in [0, 1] tiled into one array, white lines between them."""
    x = np.clip(np.asarray(images, "float32"), 0, 1)
    cols = columns or int(np.ceil(np.sqrt(len(x))))
    rows = int(np.ceil(len(x) / cols))
    h, w, c = x.shape[1:]
    grid = np.ones(((h + 1) * rows + 1, (w + 1) * cols + 1, c), "float32")
    for i, image in enumerate(x):
        r, k = divmod(i, cols)
        grid[1 + r * (h + 1):(r + 1) * (h + 1), 1 + k * (w + 1):(k + 1) * (w + 1)] = image
    return grid


def show_grid(ax, grid, title=""):
    """Draws an ``image_grid`` on ``ax`` (grey or RGB), without ticks."""
    grey = grid.shape[-1] == 1
    ax.imshow(grid[..., 0] if grey else grid, cmap="gray" if grey else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set(xticks=[], yticks=[], title=title)
