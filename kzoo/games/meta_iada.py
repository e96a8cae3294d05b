"""Meta-IADA: implicit adversarial feature augmentation, perturbations learnt on a meta set."""

import keras
import numpy as np
from keras import ops

from kzoo import backend, losses, validate
from kzoo.games.characteristics import NAMES, SampleHistory, characteristics, standardize
from kzoo.games.classifier import Classifier, check_counts
from kzoo.games.game import check_inputs, check_labels
from kzoo.games.optimizer_group import OptimizerGroup
from kzoo.nets.covariance import ClassCovariance
from kzoo.nets.heads import FEATURES, dense_head, feature_dim
from kzoo.nets.perturbation import perturbation_net as default_perturbation_net

SCOPES = ("full", "last_layer")
MAX_FULL_COVARIANCE = 512
PROGRESS = NAMES.index("progress")


@keras.saving.register_keras_serializable(package="kzoo")
class MetaIADA(Classifier):
    """A classifier trained on the IADA loss, its perturbations learnt on a clean meta set.

    Each sample's features ``h`` (the net's ``"features"`` layer, before its
    dense ``"logits"`` layer ``(W, b)``) are augmented, implicitly, from
    N(h + eps * sign(grad_h CE), alpha * Sigma_y): ``kzoo.losses.iada_loss``
    (Eq. 6). The perturbation network maps 15 training characteristics
    (``kzoo.games.characteristics.NAMES``) to ``eps`` in (-1, 1): positive
    is adversarial, negative anti-adversarial. One step (Eqs. 7-10):

    1. virtual step ``Phi_bar = Phi - eta1 * grad_Phi L_IADA(Phi; Sigma, Omega)``,
       kept differentiable (``meta_scope="last_layer"``: only ``W, b`` move);
    2. meta loss: CE of the net with ``Phi_bar`` on a class-balanced batch of
       the meta set;
    3. its gradient, second order through step 1, updates the perturbation
       network ``Omega`` (Adam, ``meta_lr``) and the covariances ``Sigma``
       (SGD, ``covariance_lr``);
    4. the real step on L_IADA with the new ``Omega`` and ``Sigma`` (the net's optimizer).

    ``Sigma`` is ISDA's online per-class estimate, into which each batch's
    features are folded after step 3 (so steps 1-3 use the estimate of the
    batches before). The first ``warmup_steps`` steps are plain CE (the
    ``Classifier`` loss), updating the estimate and the history only; the
    switch happens on the host, between steps, so neither phase pays for the
    other. Passes 1 and 2 do not move batch-norm statistics; pass 4 does.

    Characteristics are standardised over the batch, except training
    progress (constant over a batch), which enters as its value in [0, 1].
    The history ones (running loss mean and variance, forgetting events)
    need each sample's id: ``fit(x, y)`` on arrays numbers the rows of ``x``;
    other inputs pass ``(x, ids)`` as ``x``. ``history=False`` feeds zeros.

    Logs ``loss`` (IADA), ``accuracy``, ``meta_loss`` (CE on the meta batch
    through ``Phi_bar``; through ``Phi`` during warm-up) and ``adv_share``
    (share of samples with eps > 0). With a history, the last eps of each
    sample is kept in ``sample_epsilon``; ``kzoo.callbacks.EpsilonShares`` turns it
    into the share of adversarial samples per class and for noisy vs clean labels.

    Args:
        net: keras.Model with a ``"features"`` layer of shape (batch, d) and a
            dense ``"logits"`` layer (bias, no activation) on it, as kzoo's nets
            built with ``normed_head=False``.
        class_counts: list of int. Training count per class (priors pi).
        meta_data: tuple ``(x_meta, y_meta)``. The clean meta set, every class
            present (``kzoo.data.meta_split``). Stored in the model.
        num_samples: int >= 1 or None. Training set size; needed when ``history=True``.
        perturbation_net: keras.Model (batch, 15) -> (batch,), or None for
            ``kzoo.nets.perturbation_net(15)``.
        alpha: float >= 0. Weight of the covariance term (G). Default 0.5.
        beta: float >= 0. Weight of the log-prior term (F). Default 1.0.
        perturb: bool. False drops the perturbation (R): eps = 0. Default True.
        meta_scope: "full" or "last_layer". Default "full".
        warmup_steps: int >= 0. Plain CE steps first. Default 0.
        meta_batch_size: int >= 1. Meta examples per step, split equally over the
            classes (at least one each). Default 100.
        meta_lr: float > 0. Adam rate of the perturbation network. Default 1e-3.
        covariance_lr: float >= 0. SGD rate of the covariances. Default 1e-3.
        virtual_lr: float > 0 or None. eta1; None takes the net optimizer's
            current learning rate. Default None.
        diagonal: bool or None. Diagonal covariances; None: when d > 512.
        history: bool. Per-sample history characteristics. Default True.
        meta_counts: list of int. Meta examples per class; set when loading a
            saved model (whose meta set is in its weights), not by hand.
        seed: int in [0, 2**32 - 1] or None. Meta batch sampling. Default None.
        **kwargs: the other ``Classifier`` arguments (``loss`` of the warm-up).

    Example:
        >>> ds = kzoo.data.long_tail(kzoo.data.meta_split(kzoo.data.load("digits")), 10)
        >>> net = kzoo.nets.small_cnn(ds.input_shape, ds.num_classes)
        >>> model = kzoo.games.MetaIADA(
        ...     net, class_counts=ds.class_counts(), num_samples=len(ds.y_train),
        ...     meta_data=(ds.extras["x_meta"], ds.extras["y_meta"]), warmup_steps=300)
        >>> model.compile(keras.optimizers.SGD(0.05, momentum=0.9))
        >>> model.fit(ds.x_train, ds.y_train, batch_size=64, epochs=40)

    Reference:
        Zhou et al., "Boosting Model Resilience via Implicit Adversarial Data
        Augmentation", IJCAI 2024.
    """

    players = ("net", "perturbation_net")

    def __init__(self, net, *, class_counts, meta_data=None, num_samples=None,
                 perturbation_net=None, alpha=0.5, beta=1.0, perturb=True, meta_scope="full",
                 warmup_steps=0, meta_batch_size=100, meta_lr=1e-3, covariance_lr=1e-3,
                 virtual_lr=None, diagonal=None, history=True, meta_counts=None, seed=None,
                 **kwargs):
        super().__init__(net, class_counts=class_counts, **kwargs)
        for name, value in (("alpha", alpha), ("beta", beta), ("covariance_lr", covariance_lr)):
            validate.number(name, value, low=0)
        validate.number("meta_lr", meta_lr, low=0, low_open=True)
        if virtual_lr is not None:
            validate.number("virtual_lr", virtual_lr, low=0, low_open=True)
        validate.choice("meta_scope", meta_scope, SCOPES)
        warmup_steps = validate.integer("warmup_steps", warmup_steps, low=0)
        meta_batch_size = validate.integer("meta_batch_size", meta_batch_size, low=1)
        for name, value in (("perturb", perturb), ("history", history)):
            validate.boolean(name, value)
        if diagonal is not None:
            validate.boolean("diagonal", diagonal)
        if num_samples is not None:
            num_samples = validate.integer("num_samples", num_samples, low=1)
        elif history:
            raise ValueError("history=True needs num_samples, the training set size (an int "
                             ">= 1); got None. Or pass history=False.")
        dim = feature_dim(net, "MetaIADA")
        self.head = dense_head(net, "MetaIADA")
        if diagonal is None:
            diagonal = dim > MAX_FULL_COVARIANCE
        elif not diagonal and dim > MAX_FULL_COVARIANCE:
            raise ValueError(
                f"features of width {dim} need {self.num_classes} x {dim} x {dim} covariance "
                f"entries; pass diagonal=True (or None) for features wider than "
                f"{MAX_FULL_COVARIANCE}.")
        self.alpha, self.beta, self.perturb = float(alpha), float(beta), perturb
        self.meta_scope, self.warmup_steps = meta_scope, warmup_steps
        self.meta_lr, self.covariance_lr = float(meta_lr), float(covariance_lr)
        self.virtual_lr = None if virtual_lr is None else float(virtual_lr)
        self.diagonal, self.seed = diagonal, validate.seed("seed", seed, optional=True)
        if perturbation_net is None:
            perturbation_net = default_perturbation_net(len(NAMES))
        if tuple(perturbation_net.input_shape) != (None, len(NAMES)) or \
                tuple(perturbation_net.output_shape) != (None,):
            raise ValueError(
                f"perturbation_net must map (batch, {len(NAMES)}) to (batch,); it maps "
                f"{perturbation_net.input_shape} to {perturbation_net.output_shape}.")
        self.perturbation_net = perturbation_net
        self.features_and_logits = keras.Model(
            net.input, [net.get_layer(FEATURES).output, net.outputs[0]],
            name=f"{net.name}_features_and_logits")
        self.covariance = ClassCovariance(self.num_classes, dim, diagonal=self.diagonal,
                                          name="class_covariance")
        self.sample_history = None
        self.num_samples = num_samples
        if history:
            self.sample_history = SampleHistory(self.num_samples, name="sample_history")
            self.sample_epsilon = self.add_weight(shape=(self.num_samples,), initializer="zeros",
                                                  trainable=False, name="sample_epsilon")
        x_meta, self.meta_counts = self._meta_set(meta_data, meta_counts)
        per_class = max(1, meta_batch_size // self.num_classes)
        self.meta_batch_size, self._meta_per_class = meta_batch_size, per_class
        self.meta_x = self.add_weight(shape=x_meta.shape, initializer="zeros", trainable=False,
                                      name="meta_x")
        self.meta_x.assign(x_meta)
        self.total_steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                           name="total_steps")
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        self.meta_tracker = keras.metrics.Mean(name="meta_loss")
        self.share_tracker = keras.metrics.Mean(name="adv_share")
        self.warming_up = self.warmup_steps > 0

    # ------------------------------------------------------------------ set-up
    def _meta_set(self, meta_data, meta_counts):
        """The meta images sorted by class, and the count per class."""
        shape = self.served_input_shape
        if meta_data is None:
            if meta_counts is None:
                raise ValueError("MetaIADA needs meta_data=(x_meta, y_meta), a small clean "
                                 "balanced set (kzoo.data.meta_split).")
            counts = check_counts("meta_counts", meta_counts, self.num_classes)
            return np.zeros((sum(counts), *shape), "float32"), counts
        if not isinstance(meta_data, (tuple, list)) or len(meta_data) != 2:
            raise ValueError("meta_data must be a pair (x_meta, y_meta).")
        x_meta, y_meta = np.asarray(meta_data[0], "float32"), np.asarray(meta_data[1])
        check_inputs(x_meta, shape)
        check_labels(y_meta, self.num_classes, "y_meta")
        y_meta = y_meta.reshape(-1).astype(int)
        if len(y_meta) != len(x_meta):
            raise ValueError(f"meta_data holds {len(x_meta)} images and {len(y_meta)} labels.")
        counts = np.bincount(y_meta, minlength=self.num_classes)
        if (counts == 0).any():
            raise ValueError(f"the meta set has no example of class(es) "
                             f"{np.flatnonzero(counts == 0).tolist()}; every class needs one "
                             f"(kzoo.data.meta_split takes per_class from each).")
        order = np.argsort(y_meta, kind="stable")
        return x_meta[order], counts.tolist()

    def compile(self, optimizer="sgd", **kwargs):
        """``optimizer`` is the net's; the perturbation network gets Adam(``meta_lr``).

        A dict ``{"net": ..., "perturbation_net": ...}`` sets both.
        """
        if not isinstance(optimizer, OptimizerGroup) and not (
                isinstance(optimizer, dict) and "class_name" not in optimizer):
            optimizer = {"net": optimizer,
                         "perturbation_net": keras.optimizers.Adam(self.meta_lr)}
        super().compile(optimizer, **kwargs)

    # ----------------------------------------------------------------- pieces
    def _forward(self, x, keep_state=True):
        """``(h, logits)`` in training mode; ``keep_state=False`` leaves batch norm as it is."""
        model = self.features_and_logits
        if keep_state:
            return model(x, training=True)
        out, _ = model.stateless_call([v.value for v in model.trainable_variables],
                                      [v.value for v in model.non_trainable_variables], x,
                                      training=True)
        return out

    def _characteristics(self, h, logits, y, history):
        """Standardised characteristics (no gradient); progress enters unstandardised."""
        iterations = ops.cast(self.optimizer["net"].iterations, "float32")
        progress = ops.minimum(iterations / ops.maximum(self.total_steps.value, 1.0), 1.0)
        raw = characteristics(ops.stop_gradient(h), ops.stop_gradient(logits),
                              ops.stop_gradient(ops.convert_to_tensor(self.head.kernel)), y,
                              self.class_counts, self.covariance.mean.value, history, progress)
        column = np.arange(len(NAMES)) == PROGRESS
        return ops.stop_gradient(ops.where(column[None, :], raw, standardize(raw)))

    def _epsilon(self, f):
        if not self.perturb:
            return ops.zeros(ops.shape(f)[:1], f.dtype)
        return self.perturbation_net(f)

    def _iada(self, h, y, eps):
        return losses.iada_loss(h, self.head.kernel, self.head.bias, y, eps,
                                self.covariance.covariance, self.class_counts, self.alpha,
                                self.beta)

    def meta_batch(self):
        """A class-balanced batch of the meta set, drawn with replacement within each class."""
        counts = np.asarray(self.meta_counts)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        u = keras.random.uniform((self.num_classes, self._meta_per_class),
                                 seed=self.seed_generator)
        idx = ops.cast(ops.floor(u * counts[:, None].astype("float32")), "int32")
        idx = ops.minimum(idx, counts[:, None] - 1) + offsets[:, None]
        y = np.repeat(np.arange(self.num_classes), self._meta_per_class).astype("int32")
        return ops.take(self.meta_x.value, ops.reshape(idx, (-1,)), axis=0), y

    def virtual_meta_loss(self, x, y, history, x_meta, y_meta):
        """Steps 1-2: the meta CE through the virtual weights, and ``(f, h, logits)``.

        Differentiable (second order) in the perturbation network and the covariances.
        """
        if self.meta_scope == "full":
            variables = self.net.trainable_variables
        else:
            variables = [self.head.kernel, self.head.bias]

        def iada():
            h, logits = self._forward(x, keep_state=False)
            f = self._characteristics(h, logits, y, history)
            return self._iada(h, y, self._epsilon(f)), (f, h, logits)

        (_, (f, h, logits)), grads = backend.value_and_grad(iada, variables, create_graph=True)
        lr = self.virtual_lr
        if lr is None:
            lr = ops.cast(self.optimizer["net"].learning_rate, "float32")
        moved = [ops.convert_to_tensor(v) - lr * g for v, g in zip(variables, grads)]
        if self.meta_scope == "full":
            meta_logits, _ = self.net.stateless_call(
                moved, [v.value for v in self.net.non_trainable_variables], x_meta,
                training=True)
        else:
            h_meta, _ = self._forward(x_meta, keep_state=False)
            meta_logits = ops.matmul(ops.stop_gradient(h_meta), moved[0]) + moved[1]
        return losses.cross_entropy(y_meta, meta_logits), (f, h, logits)

    def meta_gradients(self, x, y, history, x_meta, y_meta):
        """``(meta_loss, aux), grads`` for the perturbation network's trainable
        variables followed by the covariances (step 3's gradient)."""
        variables = [*self.perturbation_net.trainable_variables, self.covariance.covariance]
        return backend.value_and_grad(
            lambda: self.virtual_meta_loss(x, y, history, x_meta, y_meta), variables)

    # ------------------------------------------------------------------- step
    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        x, ids = _split_ids(x)
        if self.sample_history is not None and ids is None:
            raise ValueError("MetaIADA with history=True needs sample ids: pass arrays to fit "
                             "(rows are numbered), or (x, ids) as x, or set history=False.")
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        history = (self.sample_history.read(ids) if self.sample_history is not None
                   else (ops.zeros(ops.shape(y), "float32"),) * 3)
        if self.warming_up:
            loss, h, logits, eps = self._warmup_step(x, y)
        else:
            loss, h, logits, eps = self._meta_step(x, y, history)
        self.covariance.update(ops.stop_gradient(h), y)
        if self.sample_history is not None:
            logits = ops.stop_gradient(logits)
            ce = -ops.sum(ops.one_hot(y, self.num_classes) * ops.log_softmax(logits), axis=-1)
            correct = ops.cast(ops.argmax(logits, axis=-1) == y, "float32")
            self.sample_history.update(ids, ce, correct)
            index = ops.reshape(ops.cast(ids, "int32"), (-1, 1))
            self.sample_epsilon.assign(ops.scatter_update(
                self.sample_epsilon.value, index, ops.stop_gradient(eps)))
        self.share_tracker.update_state(ops.mean(ops.cast(eps > 0, "float32")))
        return {**self._log(loss, y, logits), "meta_loss": self.meta_tracker.result(),
                "adv_share": self.share_tracker.result()}

    def _warmup_step(self, x, y):
        variables = self.net.trainable_variables

        def loss_fn():
            h, logits = self._forward(x)
            return self.criterion(y, logits), (h, logits)

        (loss, (h, logits)), grads = backend.value_and_grad(loss_fn, variables)
        backend.apply(self.optimizer["net"], grads, variables)
        x_meta, y_meta = self.meta_batch()
        self.meta_tracker.update_state(
            losses.cross_entropy(y_meta, self.net(x_meta, training=False)))
        return loss, h, logits, ops.zeros(ops.shape(y), "float32")

    def _meta_step(self, x, y, history):
        x_meta, y_meta = self.meta_batch()
        (meta_loss, (f, h, _)), grads = self.meta_gradients(x, y, history, x_meta, y_meta)
        pnet = self.perturbation_net.trainable_variables
        backend.apply(self.optimizer["perturbation_net"], grads[:-1], pnet)
        sigma = self.covariance.covariance
        sigma.assign(sigma.value - self.covariance_lr * ops.stop_gradient(grads[-1]))
        variables = self.net.trainable_variables

        def loss_fn():
            h, logits = self._forward(x)
            eps = ops.stop_gradient(self._epsilon(f))
            return self._iada(h, y, eps), (logits, eps)

        (loss, (logits, eps)), grads = backend.value_and_grad(loss_fn, variables)
        backend.apply(self.optimizer["net"], grads, variables)
        self.meta_tracker.update_state(meta_loss)
        return loss, h, logits, eps

    # ---------------------------------------------------------------- fitting
    def training_inputs(self, x):
        """Arrays get their row numbers as sample ids (for the history)."""
        return x if self.sample_history is None else (x, np.arange(len(x)))

    def fit(self, x=None, y=None, *args, **kwargs):
        kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _Schedule()]
        return super().fit(x, y, *args, **kwargs)

    def check_data(self, x, y=None):
        if isinstance(x, (tuple, list)) and len(x) == 2:
            x, ids = x
            ids = np.asarray(ids)
            if ids.shape != (len(x),) or not np.issubdtype(ids.dtype, np.integer):
                raise ValueError(f"sample ids must be {len(x)} integers, one per row of x; "
                                 f"got shape {ids.shape}, dtype {ids.dtype}.")
            limit = self.num_samples or 0
            if self.sample_history is not None and (ids.min() < 0 or ids.max() >= limit):
                raise ValueError(f"sample ids must lie in [0, num_samples={limit}); got "
                                 f"[{ids.min()}, {ids.max()}].")
        super().check_data(x, y)

    def training_monitors(self, ds):
        if self.sample_history is None:
            return {}
        from kzoo.callbacks import EpsilonShares

        return {"epsilon_shares.png": EpsilonShares(ds.y_train, ds.extras.get("noisy"))}

    @property
    def metrics(self):
        return [*super().metrics, self.meta_tracker, self.share_tracker]

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples, "alpha": self.alpha,
                "beta": self.beta, "perturb": self.perturb, "meta_scope": self.meta_scope,
                "warmup_steps": self.warmup_steps, "meta_batch_size": self.meta_batch_size,
                "meta_lr": self.meta_lr, "covariance_lr": self.covariance_lr,
                "virtual_lr": self.virtual_lr, "diagonal": self.diagonal,
                "history": self.sample_history is not None, "meta_counts": self.meta_counts,
                "seed": self.seed}


class _Schedule(keras.callbacks.Callback):
    """Host side of MetaIADA: the planned step count (for the progress
    characteristic) and the switch from warm-up to meta steps between steps."""

    def on_train_begin(self, logs=None):
        self.step, self._planned = None, False

    def on_epoch_begin(self, epoch, logs=None):
        if self._planned:
            return
        # Here, not in on_train_begin: a resumed fit starts at epoch > 0, with the
        # iterations of the earlier epochs restored.
        game, self._planned = self.model, True
        self.step = int(ops.convert_to_numpy(game.optimizer["net"].iterations))
        left = ((self.params.get("epochs") or 0) - epoch) * (self.params.get("steps") or 0)
        game.total_steps.assign(float(self.step + left))
        self._switch(game)

    def on_train_batch_begin(self, batch, logs=None):
        if self.model.warming_up:
            self._switch(self.model)

    def on_train_batch_end(self, batch, logs=None):
        self.step += self.model.steps_per_execution

    def _switch(self, game):
        warm = self.step < game.warmup_steps
        if warm != game.warming_up:
            game.warming_up = warm
            game.make_train_function(force=True)


def _split_ids(x):
    if isinstance(x, (tuple, list)) and len(x) == 2:
        return x[0], x[1]
    return x, None

