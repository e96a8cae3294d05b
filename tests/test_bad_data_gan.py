"""BadDataGAN: the harness for both forms, every player's loss and every log against NumPy
with linear players, the sign of the generator's classifier term, the label priors, the
units, the recipe, and the refusals."""

import keras
import numpy as np
import pytest
from conftest import ROOT
from harness import check_game
from keras import ops

from kzoo import backend, data, metrics, nets, recipes
from kzoo.games import BadDataGAN

LATENT = 8
RECIPE = ROOT / "recipes" / "bad_data_gan" / "digits-lt10.toml"


@pytest.fixture(scope="module")
def lt():
    return data.long_tail(data.load("digits"), imbalance=10)


def _players(classes=10, latent=LATENT):
    return (nets.dcgan_generator((8, 8, 1), latent, width=8, num_classes=classes),
            nets.dcgan_critic((8, 8, 1), width=8, num_classes=classes),
            nets.small_cnn((8, 8, 1), classes, width=8))


def _z(n=16):
    return np.random.default_rng(1).normal(size=(n, LATENT)).astype("float32")


def _numpy(t):
    return ops.convert_to_numpy(t)


# ------------------------------------------------------------------------------- harness
def test_harness_wasserstein(lt, tmp_path):
    """The empirical prior from the data's class counts; every player steps; the .keras
    file loads on the other backends; samples come in [0, 1]."""
    generator, critic, classifier = _players()
    game = BadDataGAN.from_dataset(lt, generator=generator, critic=critic,
                                   classifier=classifier, n_critic=2, seed=0)
    assert game.class_counts == lt.class_counts() and game.lam == pytest.approx(1 / 0.3)
    game.compile()
    labels = np.arange(16) % 10
    check_game(game, lt.x_train, lt.y_train, tmp_path, probe=[_z(), labels],
               updates_per_step={"critic": 2})
    samples = game.sample(5, labels=[0, 1, 2, 3, 4])
    assert samples.shape == (5, 8, 8, 1) and samples.min() >= 0 and samples.max() <= 1
    z, y = metrics.latent_batch(game, 20)
    generated = metrics.generate(game, z, y)
    raw = _numpy(game.generator([z, y], training=False))
    np.testing.assert_allclose(generated, (raw + 1) / 2, atol=1e-6)
    np.testing.assert_allclose(_numpy(game([z, y])), (raw + 1) / 2, atol=1e-6)
    assert game.classifier(lt.x_test[:3]).shape == (3, 10)
    assert game.serves == ("classifier", "generator") and game.conditional


def test_harness_js_uniform_cooperative_classifier_first(lt, tmp_path):
    generator, critic, classifier = _players()
    game = BadDataGAN(generator, critic, classifier, form="js", labels="uniform",
                      generator_role="cooperative", classifier_first=True, real_weight=0.0,
                      eps=1.0, seed=0)
    assert game.n_critic == 1
    game.compile({"classifier": keras.optimizers.SGD(0.05, momentum=0.9)})
    assert type(game.optimizer["critic"]).__name__ == "Adam"
    check_game(game, lt.x_train, lt.y_train, tmp_path, probe=[_z(), np.arange(16) % 10],
               cross_backend=False)


# --------------------------------------------------------------- losses in closed form
K, D_LATENT, D_DATA = 3, 3, 4


def _linear_players(rng):
    """G(z, y) = z A + E[y], D(x, y) = x . w + c[y], C(x) = x W + b."""
    z_in, g_label = keras.Input((D_LATENT,)), keras.Input((), dtype="int32")
    g_dense, g_embed = keras.layers.Dense(D_DATA, use_bias=False), keras.layers.Embedding(
        K, D_DATA)
    generator = keras.Model([z_in, g_label],
                            keras.layers.Add()([g_dense(z_in), g_embed(g_label)]))
    x_in, d_label = keras.Input((D_DATA,)), keras.Input((), dtype="int32")
    d_dense, d_embed = keras.layers.Dense(1, use_bias=False), keras.layers.Embedding(K, 1)
    critic = keras.Model([x_in, d_label], keras.layers.Add()(
        [keras.layers.Reshape(())(d_dense(x_in)), keras.layers.Reshape(())(d_embed(d_label))]))
    c_in = keras.Input((D_DATA,))
    c_dense = keras.layers.Dense(K)
    classifier = keras.Model(c_in, c_dense(c_in))
    w = {"A": rng.normal(size=(D_LATENT, D_DATA)), "E": rng.normal(size=(K, D_DATA)),
         "w": rng.normal(size=(D_DATA, 1)), "c": rng.normal(size=(K, 1)),
         "W": rng.normal(size=(D_DATA, K)), "b": rng.normal(size=K)}
    w = {k: v.astype("float32") for k, v in w.items()}
    g_dense.set_weights([w["A"]])
    g_embed.set_weights([w["E"]])
    d_dense.set_weights([w["w"]])
    d_embed.set_weights([w["c"]])
    c_dense.set_weights([w["W"], w["b"]])
    return (generator, critic, classifier), w


def _read(players):
    generator, critic, classifier = players
    a, e = (_numpy(v) for v in generator.trainable_variables)
    w, c = (_numpy(v) for v in critic.trainable_variables)
    big_w, b = (_numpy(v) for v in classifier.trainable_variables)
    return {"A": a, "E": e, "w": w, "c": c, "W": big_w, "b": b}


def _g(p, z, y):
    return (z @ p["A"] + p["E"][y] + 1) / 2  # the game's samples, in [0, 1]


def _d(p, x, y):
    return (x @ p["w"])[:, 0] + p["c"][y, 0]


def _c(p, x):
    return x @ p["W"] + p["b"]


def _ce(logits, y):
    top = logits.max(1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


def _softplus(x):
    return np.logaddexp(0.0, x)


def _critic_loss(form, p, real, fake, y, lam):
    """(loss, d_loss, d_penalty, critic_gap): the penalty's input gradient is w at every
    interpolate, so it is 10 (||w|| - 1)^2 whatever the draw."""
    r, f = _d(p, real, y), _d(p, fake, y)
    if form == "wasserstein":
        base, penalty = f.mean() - r.mean(), 10 * (np.linalg.norm(p["w"]) - 1) ** 2
    else:
        base, penalty = _softplus(-r).mean() + _softplus(f).mean(), 0.0
    return lam * (base + penalty), lam * base, lam * penalty, r.mean() - f.mean()


def _generator_loss(form, p, fake, y, lam, sign=-1.0):
    d = _d(p, fake, y)
    base = -d.mean() if form == "wasserstein" else _softplus(-d).mean()
    return lam * base + sign * _ce(_c(p, fake), y)


def _data(rng, n=6):
    x = rng.uniform(size=(n, D_DATA)).astype("float32")
    y = (np.arange(n) % K).astype("int32")
    return x, y


@pytest.mark.parametrize("form", ["wasserstein", "js"])
def test_each_players_loss_by_hand(rng, form):
    players, p = _linear_players(rng)
    game = BadDataGAN(*players, form=form, eps=0.5, real_weight=0.5, fake_weight=2.0, seed=0)
    x, y = _data(rng)
    z = rng.normal(size=(6, D_LATENT)).astype("float32")
    fake = _g(p, z, y)
    assert np.abs(_d(p, fake, y) - _d(p, x, y)).max() > 0.1  # the terms below differ
    loss, logs = game.critic_objective(ops.convert_to_tensor(x), ops.convert_to_tensor(fake),
                                       ops.convert_to_tensor(y))
    total, d_loss, d_penalty, gap = _critic_loss(form, p, x, fake, y, lam=2.0)
    assert float(_numpy(loss)) == pytest.approx(total, rel=1e-4)
    assert float(_numpy(logs["d_loss"])) == pytest.approx(d_loss, rel=1e-4, abs=1e-5)
    assert float(_numpy(logs["critic_gap"])) == pytest.approx(gap, rel=1e-4, abs=1e-5)
    if form == "wasserstein":
        assert float(_numpy(logs["d_penalty"])) == pytest.approx(d_penalty, rel=1e-4)
    else:
        assert "d_penalty" not in logs
    for role, sign in (("adversarial", -1.0), ("cooperative", 1.0), ("independent", 0.0)):
        game.generator_role = role
        loss, logs = game.generator_objective(ops.convert_to_tensor(z), ops.convert_to_tensor(y))
        expected = _generator_loss(form, p, fake, y, lam=2.0, sign=sign)
        assert float(_numpy(loss)) == pytest.approx(expected, rel=1e-4)
        assert float(_numpy(logs["g_loss"])) == pytest.approx(expected, rel=1e-4)
    fake_y = np.array([2, 2, 1, 0, 0, 1], "int32")
    loss, logs = game.classifier_objective(*map(ops.convert_to_tensor, (x, y, fake, fake_y)))
    expected = 0.5 * _ce(_c(p, x), y) + 2.0 * _ce(_c(p, fake), fake_y)
    assert float(_numpy(loss)) == pytest.approx(expected, rel=1e-5)
    np.testing.assert_array_equal(_numpy(logs["accuracy"]), _c(p, x).argmax(1) == y)
    np.testing.assert_array_equal(_numpy(logs["fake_accuracy"]),
                                  _c(p, fake).argmax(1) == fake_y)


@pytest.mark.parametrize("classifier_first", [False, True])
def test_one_step_and_validation_logs_by_hand(rng, classifier_first):
    """One fit step: each log at the weights its player saw (critic, then generator against
    the stepped critic, then classifier on samples of the stepped generator; or the
    classifier first), and validation the same names at the trained weights."""
    players, p0 = _linear_players(rng)
    game = BadDataGAN(*players, n_critic=1, seed=3, classifier_first=classifier_first)
    game.compile({p: keras.optimizers.Adam(0.1) for p in game.players})  # steps that show
    x, y = _data(rng)
    history = game.fit(x, y, batch_size=6, epochs=1, shuffle=False, verbose=0,
                       validation_data=(x, y)).history
    logs = {k: v[0] for k, v in history.items()}
    names = {"d_loss", "d_penalty", "critic_gap", "g_loss", "c_loss", "accuracy",
             "fake_accuracy"}
    assert set(logs) == names | {f"val_{k}" for k in names}
    p1 = _read(players)
    lam = 1 / 0.3
    draws = keras.random.SeedGenerator(3)

    def normal():
        return _numpy(keras.random.normal((6, D_LATENT), seed=draws))

    if classifier_first:
        z_c = normal()
        z_d = normal()
        keras.random.uniform((6, 1), seed=draws)  # the penalty's interpolates
        z_g = normal()
        at_d, at_g = {**p0}, {**p0, "w": p1["w"], "c": p1["c"], "W": p1["W"], "b": p1["b"]}
        at_c = p0
    else:
        z_d = normal()
        keras.random.uniform((6, 1), seed=draws)
        z_g = normal()
        z_c = normal()
        at_d, at_g = p0, {**p0, "w": p1["w"], "c": p1["c"]}
        at_c = {**p0, "A": p1["A"], "E": p1["E"]}
    _, d_loss, d_penalty, gap = _critic_loss("wasserstein", at_d, x, _g(at_d, z_d, y), y, lam)
    fake_c = _g(at_c, z_c, y)
    expected = {"d_loss": d_loss, "d_penalty": d_penalty, "critic_gap": gap,
                "g_loss": _generator_loss("wasserstein", at_g, _g(at_g, z_g, y), y, lam),
                "c_loss": _ce(_c(at_c, x), y) + _ce(_c(at_c, fake_c), y),
                "accuracy": np.mean(_c(at_c, x).argmax(1) == y),
                "fake_accuracy": np.mean(_c(at_c, fake_c).argmax(1) == y)}
    # validation: fresh z for the critic's pair, then for the generator's and classifier's
    z_val_d, z_val = normal(), normal()
    _, d_loss, d_penalty, gap = _critic_loss("wasserstein", p1, x, _g(p1, z_val_d, y), y, lam)
    fake = _g(p1, z_val, y)
    expected.update({"val_d_loss": d_loss, "val_d_penalty": d_penalty, "val_critic_gap": gap,
                     "val_g_loss": _generator_loss("wasserstein", p1, fake, y, lam),
                     "val_c_loss": _ce(_c(p1, x), y) + _ce(_c(p1, fake), y),
                     "val_accuracy": np.mean(_c(p1, x).argmax(1) == y),
                     "val_fake_accuracy": np.mean(_c(p1, fake).argmax(1) == y)})
    for key, value in expected.items():
        assert logs[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key


@pytest.mark.parametrize("role", ["adversarial", "cooperative", "independent"])
def test_generator_classifier_term_sign(rng, role):
    """One generator gradient step, the critic's term negligible (eps 1e6): the
    adversarial generator raises the classifier's loss on its samples, the cooperative
    one lowers it, the independent one leaves it (it does not see the classifier)."""
    players, _ = _linear_players(rng)
    game = BadDataGAN(*players, eps=1e6, generator_role=role)
    z = ops.convert_to_tensor(rng.normal(size=(32, D_LATENT)).astype("float32"))
    y = ops.convert_to_tensor((np.arange(32) % K).astype("int32"))

    def classifier_loss():
        logits = game.classifier(game.generate(z, y, training=False), training=False)
        return _ce(_numpy(logits), _numpy(y))

    before = classifier_loss()
    variables = game.generator.trainable_variables
    _, grads = backend.value_and_grad(lambda: game.generator_objective(z, y), variables)
    backend.apply(keras.optimizers.SGD(0.1), grads, variables)
    after = classifier_loss()
    if role == "independent":
        assert after == pytest.approx(before, abs=1e-4)
    else:
        assert (after > before + 1e-3) if role == "adversarial" else (after < before - 1e-3)


# --------------------------------------------------------------------- label priors
def test_label_priors(rng):
    players, _ = _linear_players(rng)
    real = ops.convert_to_tensor(np.zeros(3000, "int32"))
    game = BadDataGAN(*players, seed=0)
    np.testing.assert_array_equal(_numpy(game.fake_labels(real)), 0)  # the batch's own
    counts = [600, 300, 100]
    game = BadDataGAN(*players, class_counts=counts, seed=0)
    drawn = _numpy(game.fake_labels(real))
    assert drawn.shape == (3000,)
    np.testing.assert_allclose(np.bincount(drawn, minlength=K) / 3000, [0.6, 0.3, 0.1],
                               atol=0.03)
    drawn = _numpy(BadDataGAN(*players, labels="uniform", seed=0).fake_labels(real))
    np.testing.assert_allclose(np.bincount(drawn, minlength=K) / 3000, [1 / 3] * 3, atol=0.03)


# --------------------------------------------------------------------------- recipe
def test_recipe_builds_every_player(lt):
    recipe = recipes.Recipe.from_file(RECIPE)
    ds = recipe.dataset()
    assert ds.class_counts() == lt.class_counts()
    game = recipe.build(ds)
    assert isinstance(game, BadDataGAN) and recipe.serves == ("classifier", "generator")
    assert game.class_counts == ds.class_counts() and game.form == "wasserstein"
    assert game.classifier.output_shape == (None, 10) and game.conditional
    rates = {p: float(np.asarray(game.optimizer[p].learning_rate))
             for p in ("generator", "critic")}
    assert rates == pytest.approx({"generator": 2e-4, "critic": 2e-4})
    assert type(game.optimizer["classifier"]).__name__ == "SGD"


# ------------------------------------------------------------------------- refusals
def test_refusals(lt):
    g, d, c = _players()
    bad = [
        ({"eps": 0}, r"eps must be a finite number > 0; got 0\."),
        ({"eps": -1.0}, r"eps must be a finite number > 0; got -1\.0"),
        ({"eps": float("nan")}, r"eps must be a finite number > 0; got nan"),
        ({"real_weight": -1}, r"real_weight must be a finite number >= 0; got -1"),
        ({"fake_weight": -0.5}, r"fake_weight must be a finite number >= 0; got -0\.5"),
        ({"real_weight": 0, "fake_weight": 0.0}, "real_weight and fake_weight are both 0"),
        ({"n_critic": 0}, r"n_critic must be an int >= 1; got 0"),
        ({"form": "kl"}, r"form must be one of 'wasserstein', 'js'; got 'kl'"),
        ({"labels": "balanced"}, r"labels must be one of 'empirical', 'uniform'; "
                                 r"got 'balanced'"),
        ({"generator_role": "friendly"}, r"generator_role must be one of 'adversarial', "
                                         r"'cooperative', 'independent'; got 'friendly'"),
        ({"classifier_first": "yes"}, r"classifier_first must be true or false; got 'yes'"),
        ({"class_counts": [5, 4]}, r"class_counts must hold 10 positive counts"),
        ({"class_counts": [5] * 9 + [0]}, r"class_counts\[9\] must be an int >= 1; got 0"),
        ({"loss": "hinge"}, r"BadDataGAN takes no loss: form sets its losses"),
        ({"penalty": {"weight": 1.0}}, r"BadDataGAN takes no penalty"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ValueError, match=message):
            BadDataGAN(g, d, c, **kwargs)
    unconditional_g = nets.dcgan_generator((8, 8, 1), LATENT, width=8)
    unconditional_d = nets.dcgan_critic((8, 8, 1), width=8)
    with pytest.raises(ValueError, match=r"needs a conditional generator \(inputs \[z, label\]"
                                         r"\); this one takes 1 input"):
        BadDataGAN(unconditional_g, d, c)
    with pytest.raises(ValueError, match=r"needs a conditional critic \(inputs \[image, "
                                         r"label\]\); this one takes 1 input"):
        BadDataGAN(g, unconditional_d, c)
    with pytest.raises(ValueError, match="classifier must be a keras.Model; got 'cnn'"):
        BadDataGAN(g, d, "cnn")
    with pytest.raises(ValueError, match=r"the classifier takes inputs of shape \(28, 28, 1\); "
                                         r"the generator makes samples of shape \(8, 8, 1\)"):
        BadDataGAN(g, d, nets.small_cnn((28, 28, 1), 10, width=4))
    with pytest.raises(ValueError, match=r"logits of shape \(batch, 10\).*outputs "
                                         r"\(None, 5\)"):
        BadDataGAN(g, d, nets.small_cnn((8, 8, 1), 5, width=4))
    with pytest.raises(ValueError, match="the generator takes 10 classes and the critic 5"):
        BadDataGAN(g, nets.dcgan_critic((8, 8, 1), width=8, num_classes=5), c)
    with pytest.raises(ValueError, match=r"is in \[-1, 1\] \(drop \[data\] scale"):
        BadDataGAN.from_dataset(data.signed(lt), generator=g, critic=d, classifier=c)
    game = BadDataGAN(g, d, c)
    game.compile()
    x, y = lt.x_train[:8], lt.y_train[:8]
    with pytest.raises(ValueError, match=r"y holds labels in \[10, 10\]; allowed: 0 to 9"):
        game.fit(x, np.full(8, 10), verbose=0)
    with pytest.raises(ValueError, match=r"x holds values in \[-1, [0-9.]+\]; the model takes "
                                         r"inputs in \[0, 1\] \(\(x \+ 1\) / 2 if these"):
        game.fit(2 * x - 1, y, verbose=0)
    with pytest.raises(ValueError, match="trains on images and their labels: fit"):
        game.fit(x, verbose=0)
    with pytest.raises(ValueError, match=r"x has examples of shape \(8, 8, 3\)"):
        game.fit(np.zeros((4, 8, 8, 3), "float32"), y[:4], verbose=0)
