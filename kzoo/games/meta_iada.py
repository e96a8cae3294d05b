"""Meta-IADA: implicit adversarial feature augmentation, perturbations learnt on a meta set."""

import keras
import numpy as np
from keras import ops

from kzoo import backend, losses, validate
from kzoo.games.classifier import Classifier, hits
from kzoo.games.game import call_frozen, check_inputs, check_labels
from kzoo.games.optimizer_group import OptimizerGroup
from kzoo.games.stages import Stage
from kzoo.nets.characteristics import (
    NAMES,
    NoHistory,
    SampleHistory,
    characteristics,
    split_ids,
    standardize,
)
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
    (``kzoo.nets.characteristics.NAMES``) to ``eps`` in (-1, 1): positive
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
    The history ones (running loss mean and variance, forgetting events) come
    from ``sample_history``, a ``kzoo.nets.SampleHistory`` that needs each sample's
    id: ``fit(x, y)`` on arrays numbers the rows of ``x``; other inputs pass
    ``(x, ids)`` as ``x``. With ``history=False`` it is a ``kzoo.nets.NoHistory``:
    zeros, no ids needed.

    Logs ``loss`` (the ``Classifier`` criterion on the batch, as in validation),
    ``accuracy``, ``iada_loss`` (the meta steps' objective), ``meta_loss`` (CE on
    the meta batch through ``Phi_bar``; through ``Phi`` during warm-up),
    ``adv_share`` (share of samples with eps > 0) and ``stage`` (0 warm-up, 1
    meta, when there is a warm-up). A history also keeps the last eps of each
    sample, ``sample_epsilon`` (None without); ``kzoo.callbacks.EpsilonShares`` turns
    it into the share of adversarial samples per class and for noisy vs clean labels.

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
        history: bool. Per-sample history characteristics (and ``sample_epsilon``);
            False feeds zeros. Default True.
        meta_counts: list of int. Meta examples per class; set when loading a
            saved model (whose meta set is in its weights), not by hand.
        seed: int in [0, 2**32 - 1] or None. Meta batch sampling. Default None.
        **kwargs: the other ``Classifier`` arguments (``loss`` of the warm-up).

    Examples:
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
    log_names = ("loss", "accuracy", "iada_loss", "meta_loss", "adv_share")
    paper = ("Zhou et al., Boosting Model Resilience via Implicit Adversarial Data "
             "Augmentation (Meta-IADA), IJCAI 2024")
    # The meta step's second-order gradients (perturbation net, covariances) are not
    # loss-scaled: mixed_bfloat16 only.
    loss_scaling = False

    def __init__(self, net, *, class_counts, meta_data=None, num_samples=None,
                 perturbation_net=None, alpha=0.5, beta=1.0, perturb=True, meta_scope="full",
                 warmup_steps=0, meta_batch_size=100, meta_lr=1e-3, covariance_lr=1e-3,
                 virtual_lr=None, diagonal=None, history=True, meta_counts=None, seed=None,
                 **kwargs):
        if kwargs.get("reweight_epoch") is not None:
            raise ValueError(f"MetaIADA plays its own stages (warm-up, then meta steps); "
                             f"reweight_epoch={kwargs['reweight_epoch']!r} (deferred "
                             f"re-weighting) is for the other classifier games.")
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
        self.num_samples, self.keep_history = num_samples, history
        self.sample_history = (SampleHistory(num_samples, name="sample_history") if history
                               else NoHistory())
        self.sample_epsilon = self.sample_history.epsilon  # saved among the game's variables
        x_meta, self.meta_counts = self._meta_set(meta_data, meta_counts)
        per_class = max(1, meta_batch_size // self.num_classes)
        self.meta_batch_size, self._meta_per_class = meta_batch_size, per_class
        self.meta_x = self.add_weight(shape=x_meta.shape, initializer="zeros", trainable=False,
                                      name="meta_x")
        self.meta_x.assign(x_meta)
        self.total_steps = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                           name="total_steps")
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    # ------------------------------------------------------------------ set-up
    @classmethod
    def from_dataset(cls, ds, **kwargs):
        """Takes ``num_samples`` and the meta set (``kzoo.data.meta_split``) from ``ds``
        unless given, and the class counts as a ``Classifier`` does."""
        kwargs.setdefault("num_samples", len(ds.y_train))
        if "meta_data" not in kwargs:
            if "x_meta" not in ds.extras:
                raise ValueError(f"{cls.__name__} needs a meta set: split one off the data "
                                 f"with kzoo.data.meta_split (in a recipe, add "
                                 f"{{kind = \"meta_split\"}} to [data] bias, and no "
                                 f"meta_merge after it).")
            kwargs["meta_data"] = (ds.extras["x_meta"], ds.extras["y_meta"])
        return super().from_dataset(ds, **kwargs)

    def _meta_set(self, meta_data, meta_counts):
        """The meta images sorted by class, and the count per class."""
        shape = self.served_input_shape
        if meta_data is None:
            if meta_counts is None:
                raise ValueError("MetaIADA needs meta_data=(x_meta, y_meta), a small clean "
                                 "balanced set (kzoo.data.meta_split).")
            counts = validate.counts("meta_counts", meta_counts, self.num_classes)
            return np.zeros((sum(counts), *shape), "float32"), counts
        if not isinstance(meta_data, (tuple, list)) or len(meta_data) != 2:
            raise ValueError("meta_data must be a pair (x_meta, y_meta).")
        x_meta, y_meta = np.asarray(meta_data[0], "float32"), np.asarray(meta_data[1])
        check_inputs(x_meta, shape, self.input_range, "x_meta")
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
            h, logits = call_frozen(self.features_and_logits, x)
            f = self._characteristics(h, logits, y, history)
            return self._iada(h, y, self._epsilon(f)), (f, h, logits)

        (_, (f, h, logits)), grads = backend.value_and_grad(iada, variables, create_graph=True)
        # over several replicas, the virtual step takes the global batch's gradient (a
        # differentiable mean), so that every replica's meta step is one device's
        grads = [backend.replica_mean(g) for g in grads]
        lr = self.virtual_lr
        if lr is None:
            lr = ops.cast(self.optimizer["net"].learning_rate, "float32")
        moved = [ops.convert_to_tensor(v) - lr * g for v, g in zip(variables, grads)]
        if self.meta_scope == "full":
            meta_logits, _ = self.net.stateless_call(
                moved, [v.value for v in self.net.non_trainable_variables], x_meta,
                training=True)
        else:
            h_meta, _ = call_frozen(self.features_and_logits, x_meta)
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
        x, ids = split_ids(x)
        y = ops.reshape(ops.cast(y, "int32"), (-1,))
        history = self.sample_history.read(ids)
        if self.stage == "warmup":
            logs, h, logits, eps = self._warmup_step(x, y)
        else:
            logs, h, logits, eps = self._meta_step(x, y, history)
        logits = ops.stop_gradient(logits)
        correct = hits(y, logits)
        # state written from the global batch on every replica (sample ids are row numbers
        # of the whole training set): each replica's state stays one device's
        gather = backend.replica_concat
        self.covariance.update(gather(ops.stop_gradient(h)), gather(y))
        if ids is not None:
            self.sample_history.update(
                gather(ids), gather(losses.per_example_cross_entropy(y, logits)),
                gather(correct), gather(eps))
        return self.record({**logs, "accuracy": correct,
                            "adv_share": ops.cast(eps > 0, "float32")})

    def _warmup_step(self, x, y):
        variables = self.net.trainable_variables

        def loss_fn():
            h, logits = self.features_and_logits(x, training=True)
            return self.criterion(y, logits), (h, logits)

        loss, (h, logits) = backend.descend(self.optimizer["net"], loss_fn, variables)
        x_meta, y_meta = self.meta_batch()
        meta_loss = losses.cross_entropy(y_meta, self.net(x_meta, training=False))
        return ({"loss": loss, "meta_loss": meta_loss}, h, logits,
                ops.zeros(ops.shape(y), "float32"))

    def _meta_step(self, x, y, history):
        x_meta, y_meta = self.meta_batch()
        (meta_loss, (f, h, _)), grads = self.meta_gradients(x, y, history, x_meta, y_meta)
        pnet = self.perturbation_net.trainable_variables
        backend.apply(self.optimizer["perturbation_net"], grads[:-1], pnet)
        sigma = self.covariance.covariance
        sigma.assign(sigma.value - self.covariance_lr * ops.stop_gradient(
            backend.replica_mean(grads[-1])))  # (kzoo.backend.apply averages the others)
        variables = self.net.trainable_variables

        def loss_fn():
            h, logits = self.features_and_logits(x, training=True)
            eps = ops.stop_gradient(self._epsilon(f))
            return self._iada(h, y, eps), (logits, eps)

        iada_loss, (logits, eps) = backend.descend(self.optimizer["net"], loss_fn, variables)
        logs = {"loss": self.criterion(y, ops.stop_gradient(logits)), "iada_loss": iada_loss,
                "meta_loss": meta_loss}
        return logs, h, logits, eps

    # ---------------------------------------------------------------- fitting
    def training_inputs(self, x):
        """With a history, arrays get their row numbers as sample ids."""
        return self.sample_history.training_inputs(x)

    def stages(self):
        """Plain-criterion warm-up for ``warmup_steps`` steps, then meta steps."""
        if self.warmup_steps == 0:
            return [Stage("meta")]
        return [Stage("warmup", until_step=self.warmup_steps), Stage("meta")]

    def plan_training(self, step, total_steps):
        """The planned step count, for the training-progress characteristic."""
        self.total_steps.assign(float(total_steps))

    def check_data(self, x, y=None):
        """Also checks the sample ids of ``(x, ids)``: one integer per row (in range, with a
        history)."""
        x, ids = split_ids(x)
        if ids is not None:
            self.sample_history.check_ids(ids, len(x))
        super().check_data(x, y)

    def training_monitors(self, ds):
        """With a history, the share of adversarial samples per epoch."""
        return self.sample_history.training_monitors(ds)

    def get_config(self):
        return {**super().get_config(), "num_samples": self.num_samples, "alpha": self.alpha,
                "beta": self.beta, "perturb": self.perturb, "meta_scope": self.meta_scope,
                "warmup_steps": self.warmup_steps, "meta_batch_size": self.meta_batch_size,
                "meta_lr": self.meta_lr, "covariance_lr": self.covariance_lr,
                "virtual_lr": self.virtual_lr, "diagonal": self.diagonal,
                "history": self.keep_history, "meta_counts": self.meta_counts,
                "seed": self.seed}
