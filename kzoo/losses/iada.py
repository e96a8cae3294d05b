"""The implicit adversarial data augmentation (IADA) surrogate loss (Meta-IADA, Eq. 6)."""

import numpy as np
from keras import ops

from kzoo import validate
from kzoo.losses.classification import cross_entropy


def iada_loss(features, kernel, bias, y_true, epsilon, covariance, class_prior, alpha=0.5,
              beta=1.0):
    """Cross-entropy over the IADA logits, an upper bound of augmenting features explicitly.

    With ``h`` the features before the last dense layer ``(W, b)``:

        delta_i = epsilon_i * sign(grad_h CE_i)           (adversarial if epsilon_i > 0)
        Z_ij = w_j . (h_i + delta_i) + b_j + alpha * rho_ij + beta * log(pi_j)
        rho_ij = 0.5 * (w_j - w_yi)^T Sigma_yi (w_j - w_yi)

    and the loss is the mean CE of ``Z``. By Jensen's inequality, with beta = 0
    it bounds the expected CE of features drawn from N(h + delta, alpha Sigma_y).
    ``grad_h CE`` is taken in closed form for the linear head; its sign carries
    no gradient, so ``epsilon`` (a perturbation network's output) receives
    gradient through ``delta``.

    Args:
        features: tensor (batch, d). ``h``.
        kernel: tensor (d, classes). ``W`` as a Keras Dense kernel.
        bias: tensor (classes,). ``b``.
        y_true: int tensor (batch,).
        epsilon: tensor (batch,). Per-sample perturbation strength.
        covariance: tensor (classes, d, d), or (classes, d) for diagonal ones.
        class_prior: (classes,) training shares ``pi`` (counts are normalised).
        alpha: float >= 0. Weight of the covariance term. Default 0.5.
        beta: float >= 0. Weight of the logit adjustment. Default 1.0.

    Examples:
        >>> loss = iada_loss(h, dense.kernel, dense.bias, y, eps, cov.covariance,
        ...                  ds.class_counts())
    """
    for name, value in (("alpha", alpha), ("beta", beta)):
        validate.number(name, value, low=0)
    h = ops.convert_to_tensor(features)
    w = ops.convert_to_tensor(kernel)
    dim, classes = w.shape
    cov = ops.convert_to_tensor(covariance)
    if len(h.shape) != 2 or h.shape[-1] != dim:
        raise ValueError(f"features must have shape (batch, {dim}); got {tuple(h.shape)}.")
    if tuple(cov.shape) not in ((classes, dim, dim), (classes, dim)):
        raise ValueError(f"covariance must have shape ({classes}, {dim}, {dim}) or "
                         f"({classes}, {dim}); got {tuple(cov.shape)}.")
    prior = np.asarray(class_prior, dtype="float64")
    if prior.shape != (classes,) or (prior <= 0).any():
        raise ValueError(f"class_prior must hold {classes} positive values; got {class_prior!r}.")
    log_prior = ops.convert_to_tensor(np.log(prior / prior.sum()).astype("float32"))

    y = ops.reshape(ops.cast(y_true, "int32"), (-1,))
    onehot = ops.one_hot(y, classes, dtype=h.dtype)
    logits = ops.matmul(h, w) + ops.convert_to_tensor(bias)
    grad_h = ops.matmul(ops.softmax(logits, axis=-1) - onehot, ops.transpose(w))
    delta = ops.reshape(ops.cast(epsilon, h.dtype), (-1, 1)) * ops.stop_gradient(ops.sign(grad_h))
    # M_c = W^T Sigma_c W, so rho_ij = 0.5 (M_y[j,j] - 2 M_y[j,y] + M_y[y,y]).
    if len(cov.shape) == 3:
        m = ops.einsum("dj,cde,ek->cjk", w, cov, w)
    else:
        m = ops.einsum("dj,cd,dk->cjk", w, cov, w)
    m_y = ops.take(m, y, axis=0)                                         # (batch, C, C)
    diag = ops.diagonal(m_y, axis1=1, axis2=2)                           # M_y[j, j]
    cross = ops.sum(m_y * onehot[:, None, :], axis=-1)                   # M_y[j, y]
    self_term = ops.sum(diag * onehot, axis=-1, keepdims=True)           # M_y[y, y]
    rho = 0.5 * (diag - 2.0 * cross + self_term)
    z = logits + ops.matmul(delta, w) + alpha * rho + beta * log_prior
    return cross_entropy(y, z)
