"""MetaIADA: second-order meta gradients, the harness, the schedule, and its refusals."""

import re

import keras
import numpy as np
import pytest
from harness import check_game
from keras import ops

from kzoo import data, nets
from kzoo.games import MetaIADA
from kzoo.nets.characteristics import NAMES

D_IN, D, C = 5, 4, 3


@pytest.fixture(scope="module")
def lt():
    return data.meta_split(data.long_tail(data.load("digits"), imbalance=10), per_class=5)


def _meta(ds):
    return ds.extras["x_meta"], ds.extras["y_meta"]


def _game(ds, **kw):
    net = nets.small_cnn(ds.input_shape, ds.num_classes, width=8)
    kw.setdefault("num_samples", len(ds.y_train))
    game = MetaIADA(net, class_counts=ds.class_counts(), meta_data=_meta(ds), seed=0, **kw)
    game.compile(keras.optimizers.SGD(0.05, momentum=0.9))
    return game


def _tiny(rng, scope):
    """A two-layer tanh net, a small perturbation net, and a random PSD covariance."""
    inputs = keras.Input((D_IN,))
    h = keras.layers.Dense(D, activation="tanh", name="features")(inputs)
    net = keras.Model(inputs, keras.layers.Dense(C, name="logits")(h))
    p_in = keras.Input((len(NAMES),))
    p_hidden = keras.layers.Dense(6, activation="tanh")(p_in)
    pnet = keras.Model(p_in, keras.layers.Reshape(())(
        keras.layers.Dense(1, activation="tanh")(p_hidden)))
    x_meta = rng.normal(size=(6, D_IN)).astype("float32")
    game = MetaIADA(net, class_counts=[20, 8, 3], meta_data=(x_meta, np.arange(6) % C),
                    perturbation_net=pnet, history=False, meta_scope=scope, virtual_lr=1.0,
                    input_range=None)  # features, not images
    game.compile(keras.optimizers.SGD(0.1))
    a = rng.normal(size=(C, D, D)).astype("float32")
    game.covariance.covariance.assign(np.einsum("cij,ckj->cik", a, a) / D)
    return game, x_meta


@pytest.mark.parametrize("scope", ["full", "last_layer"])
def test_meta_gradients_match_finite_differences(rng, scope):
    """The meta gradient, second order through the virtual step, is the derivative of the
    meta loss in the perturbation network's weights and the covariances."""
    game, x_meta = _tiny(rng, scope)
    x = rng.normal(size=(12, D_IN)).astype("float32")
    y = rng.integers(0, C, 12)
    y_meta = (np.arange(6) % C).astype("int32")
    history = (np.zeros(12, "float32"),) * 3
    variables = [*game.perturbation_net.trainable_variables, game.covariance.covariance]

    def meta_loss():
        loss, _ = game.virtual_meta_loss(x, y, history, x_meta, y_meta)
        return float(ops.convert_to_numpy(loss))

    (_, _), grads = game.meta_gradients(x, y, history, x_meta, y_meta)
    grads = [ops.convert_to_numpy(g) for g in grads]
    assert np.abs(grads[-1]).max() > 0 and np.abs(grads[0]).max() > 0
    start = [ops.convert_to_numpy(v).copy() for v in variables]
    norm = np.sqrt(sum(float((g**2).sum()) for g in grads))
    for trial in range(3):
        direction = [rng.normal(size=s.shape).astype("float32") for s in start]
        scale = np.sqrt(sum(float((d**2).sum()) for d in direction))
        direction = [d / scale for d in direction]  # a unit step in all the variables
        analytic = sum(float((g * d).sum()) for g, d in zip(grads, direction))
        t = 5e-3
        values = []
        for sign in (1, -1):
            for v, s, d in zip(variables, start, direction):
                v.assign(s + sign * t * d)
            values.append(meta_loss())
        for v, s in zip(variables, start):
            v.assign(s)
        numeric = (values[0] - values[1]) / (2 * t)
        assert abs(analytic - numeric) <= 2e-2 * abs(numeric) + 1e-3 * norm, \
            (trial, analytic, numeric, norm)


def test_first_order_alone_would_give_no_meta_gradient(rng):
    """The meta loss depends on the perturbation network only through the virtual step:
    with virtual_lr tiny, the meta gradient shrinks with it."""
    game, x_meta = _tiny(rng, "full")
    x = rng.normal(size=(12, D_IN)).astype("float32")
    y = rng.integers(0, C, 12)
    args = (x, y, (np.zeros(12, "float32"),) * 3, x_meta, (np.arange(6) % C).astype("int32"))
    norms = []
    for lr in (1.0, 1e-3):
        game.virtual_lr = lr
        _, grads = game.meta_gradients(*args)
        norms.append(np.abs(ops.convert_to_numpy(grads[0])).max())
    assert norms[1] < 1e-2 * norms[0]


@pytest.mark.parametrize("scope", ["full", "last_layer"])
def test_meta_iada_harness(lt, tmp_path, scope):
    game = _game(lt, meta_scope=scope, num_samples=16)
    check_game(game, lt.x_train, lt.y_train, tmp_path, cross_backend=scope == "full")


def test_harness_without_history(lt, tmp_path):
    game = _game(lt, history=False)
    check_game(game, lt.x_train, lt.y_train, tmp_path, cross_backend=False)
    assert game.sample_epsilon is None and game.training_monitors(lt) == {}
    assert not game.get_config()["history"]


def test_history_state_saves_where_the_game_keeps_it(lt, tmp_path):
    """The last epsilons are the game's own variable (after its class weights), the five
    statistics the history layer's; both come back from a saved file."""
    game = _game(lt, num_samples=16, warmup_steps=1)
    game.fit(lt.x_train[:16], lt.y_train[:16], batch_size=8, epochs=1, shuffle=False, verbose=0)
    own = {}
    game.save_own_variables(own)
    assert [own[str(i)].name for i in range(len(own))] == ["class_weights", "sample_epsilon",
                                                           "meta_x", "total_steps"]
    assert set(game.training_monitors(lt)) == {"epsilon_shares.png"}
    game.save(tmp_path / "game.keras")
    loaded = keras.saving.load_model(tmp_path / "game.keras")
    for a, b in zip([game.sample_epsilon, *game.sample_history.weights],
                    [loaded.sample_epsilon, *loaded.sample_history.weights]):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    assert np.abs(ops.convert_to_numpy(loaded.sample_epsilon)[8:]).min() > 0


def test_warmup_then_meta_steps(lt):
    """Warm-up steps train the net alone; the switch happens after exactly warmup_steps."""
    game = _game(lt, warmup_steps=3, num_samples=40)
    logs = game.fit(lt.x_train[:40], lt.y_train[:40], batch_size=8, epochs=1, shuffle=False,
                    verbose=0)
    opts = game.optimizer.optimizers
    assert int(opts["net"].iterations) == 5
    assert int(opts["perturbation_net"].iterations) == 2
    assert game.stage == "meta" and np.isfinite(logs.history["meta_loss"]).all()
    eps = ops.convert_to_numpy(game.sample_epsilon)
    assert (eps[:24] == 0).all() and (eps[24:] != 0).all()  # rows seen in meta steps only
    assert np.all(np.abs(eps) < 1)


def test_the_progress_bar_names_a_stage_that_starts_mid_epoch(lt, capsys):
    game = _game(lt, warmup_steps=3, num_samples=40)
    game.fit(lt.x_train[:40], lt.y_train[:40], batch_size=8, epochs=1, shuffle=False,
             verbose=1)
    stages = re.findall(r"^Stage .*$", capsys.readouterr().out, re.M)
    assert stages == ["Stage warmup", "Stage meta (from step 4 of this epoch)"]


def test_history_and_covariance_follow_the_data(lt):
    """Each fit row is a sample id: after one epoch, every sample was seen once; the
    class counts of the covariance estimate are the training counts."""
    n = 48
    game = _game(lt, num_samples=n)
    game.fit(lt.x_train[:n], lt.y_train[:n], batch_size=16, epochs=1, verbose=0)
    seen = ops.convert_to_numpy(game.sample_history.seen)
    np.testing.assert_array_equal(seen, np.ones(n))
    counts = ops.convert_to_numpy(game.covariance.count)
    np.testing.assert_array_equal(counts, np.bincount(lt.y_train[:n], minlength=10))


def test_meta_batches_are_balanced(lt):
    game = _game(lt, meta_batch_size=30)
    x, y = game.meta_batch()
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 3))
    x = ops.convert_to_numpy(x)
    x_meta, y_meta = _meta(lt)
    for image, label in zip(x, y):  # every drawn image is a meta image of its class
        assert np.abs(x_meta[y_meta == label] - image).reshape(5, -1).max(1).min() == 0


def test_refusals(lt):
    x_meta, y_meta = _meta(lt)
    with pytest.raises(ValueError, match=r"no example of class\(es\) \[9\]"):
        MetaIADA(
            nets.small_cnn(lt.input_shape, 10, width=8), class_counts=lt.class_counts(),
            num_samples=10, meta_data=(x_meta[y_meta != 9], y_meta[y_meta != 9]))
    for name in ("alpha", "beta"):
        with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0; got -0.5"):
            _game(lt, **{name: -0.5})
    with pytest.raises(ValueError, match="needs num_samples"):
        _game(lt, num_samples=None)
    with pytest.raises(ValueError, match="needs meta_data"):
        MetaIADA(nets.small_cnn(lt.input_shape, 10, width=8), class_counts=lt.class_counts(),
                 history=False)
    with pytest.raises(ValueError, match="meta_scope must be one of 'full', 'last_layer'"):
        _game(lt, meta_scope="head")
    with pytest.raises(ValueError, match="dense 'logits' layer with a bias"):
        MetaIADA(nets.small_cnn(lt.input_shape, 10, width=8, normed_head=True),
                 class_counts=lt.class_counts(), history=False, meta_data=_meta(lt))
    wide = nets.mlp((4,), 10, hidden=(600,))
    with pytest.raises(ValueError, match="pass diagonal=True"):
        MetaIADA(wide, class_counts=lt.class_counts(), history=False, diagonal=False,
                 meta_data=(np.zeros((10, 4), "float32"), np.arange(10)))
    inputs = keras.Input(lt.input_shape)
    maps = keras.layers.Conv2D(4, 3, name="features")(inputs)
    flat = keras.layers.Dense(10, name="logits")(keras.layers.Flatten()(maps))
    with pytest.raises(ValueError, match=r"need flat features \(batch, d\)"):
        MetaIADA(keras.Model(inputs, flat), class_counts=lt.class_counts(), history=False,
                 meta_data=_meta(lt))
    hidden = keras.layers.Dense(8, name="features")(keras.layers.Flatten()(inputs))
    gap = keras.layers.Dense(10, name="logits")(keras.layers.Dense(8)(hidden))
    with pytest.raises(ValueError, match="must take the 'features' layer's output"):
        MetaIADA(keras.Model(inputs, gap), class_counts=lt.class_counts(), history=False,
                 meta_data=_meta(lt))
    with pytest.raises(ValueError, match="needs a net with a 'features' layer"):
        MetaIADA(keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)]),
                 class_counts=lt.class_counts(), history=False, meta_data=_meta(lt))
    game = _game(lt, num_samples=8)
    with pytest.raises(ValueError, match="sample ids must lie in"):
        game.fit((lt.x_train[:8], np.arange(8) + 4), lt.y_train[:8], verbose=0)


def test_wide_features_default_to_diagonal_covariances():
    wide = nets.mlp((4,), 10, hidden=(600,))
    game = MetaIADA(wide, class_counts=[5] * 10, history=False,
                    meta_data=(np.zeros((10, 4), "float32"), np.arange(10)))
    assert game.diagonal and tuple(game.covariance.covariance.shape) == (10, 600)


def test_ids_are_needed_with_history(lt):
    """A dataset that carries no ids cannot feed the history characteristics."""
    game = _game(lt, num_samples=len(lt.y_train))
    batches = [(lt.x_train[:8], lt.y_train[:8])]
    with pytest.raises(ValueError, match="needs each batch.s sample ids"):
        game.fit((b for b in batches * 2), steps_per_epoch=1, shuffle=False, verbose=0)
