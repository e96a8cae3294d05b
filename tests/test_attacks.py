"""kzoo.attacks: closed forms, projections, batch-norm safety, errors, ART as oracle, and
AutoAttack against PGD."""

import keras
import numpy as np
import pytest
from conftest import BACKEND, ROOT
from scipy.special import softmax

import kzoo
from kzoo import roles, runs
from kzoo.attacks import fgsm, pgd
from kzoo.metrics import robustness


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.fixture
def linear(rng):
    w = rng.normal(size=(6, 3)).astype("float32")
    inputs = keras.Input((6,))
    layer = keras.layers.Dense(3, use_bias=False)
    model = keras.Model(inputs, layer(inputs))
    layer.set_weights([w])
    x = rng.uniform(0.2, 0.8, size=(5, 6)).astype("float32")
    y = rng.integers(0, 3, 5)
    return model, w, x, y


def test_fgsm_closed_form(linear):
    model, w, x, y = linear
    p = softmax(x @ w, axis=1)
    grad = (p - np.eye(3)[y]) @ w.T  # d CE / dx for logits x W
    expected = np.clip(x + 0.05 * np.sign(grad), 0, 1)
    np.testing.assert_allclose(fgsm(model, x, y, epsilon=0.05), expected, atol=1e-6)
    l2 = np.clip(x + 0.05 * grad / np.linalg.norm(grad, axis=1, keepdims=True), 0, 1)
    np.testing.assert_allclose(fgsm(model, x, y, epsilon=0.05, norm="l2"), l2, atol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_stays_in_ball_and_range(linear, norm, random_start):
    model, _, x, y = linear
    x_adv = pgd(model, x, y, epsilon=0.3, step_size=0.1, steps=6, norm=norm,
                random_start=random_start, seed=3)
    delta = x_adv - x
    size = np.abs(delta).max(1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert np.all(size <= 0.3 + 1e-5) and np.all((x_adv >= 0) & (x_adv <= 1))
    ce = lambda v: -np.log(softmax(_np(model(v)), axis=1)[np.arange(5), y])  # noqa: E731
    assert np.all(ce(x_adv) >= ce(x) - 1e-6)


def test_targeted_raises_target_probability(linear):
    model, _, x, _ = linear
    target = np.full(5, 2)
    x_adv = pgd(model, x, target, epsilon=0.2, step_size=0.05, steps=5, targeted=True)
    p = lambda v: softmax(_np(model(v)), axis=1)[:, 2]  # noqa: E731
    assert np.all(p(x_adv) >= p(x) - 1e-7)


def test_attacks_never_move_batch_norm(rng):
    net = kzoo.nets.small_cnn((8, 8, 1), 10, width=8)
    before = [_np(v).copy() for v in net.non_trainable_variables]
    x = rng.random((16, 8, 8, 1)).astype("float32")
    pgd(net, x, rng.integers(0, 10, 16), epsilon=0.1, step_size=0.05, steps=3,
        random_start=True, seed=0)
    for a, b in zip(before, net.non_trainable_variables):
        np.testing.assert_array_equal(a, _np(b))
    net(x, training=True)  # the same check can fail: a training pass does move them
    assert any(np.abs(a - _np(b)).max() > 0 for a, b in zip(before, net.non_trainable_variables))


@pytest.mark.parametrize("kwargs, match", [
    ({"epsilon": -0.1}, "epsilon must be a finite number >= 0; got -0.1"),
    ({"steps": 0}, "steps must be an int >= 1"),
    ({"steps": 2.5}, "steps must be an int >= 1"),
    ({"step_size": 0.0}, "step_size must be a finite number > 0; got 0.0"),
    ({"norm": "l1"}, "norm must be one of 'linf', 'l2'; got 'l1'"),
    ({"loss": "hinge"}, "loss must be one of 'ce', 'margin'; got 'hinge'"),
])
def test_attack_errors(linear, kwargs, match):
    model, _, x, y = linear
    args = {"epsilon": 0.1, "step_size": 0.05, "steps": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        pgd(model, x, y, **args)


@pytest.mark.skipif(BACKEND != "torch",
                    reason="ART's PyTorch estimator needs a torch.nn.Module: a Keras model is "
                           "one only on the torch backend")
@pytest.mark.parametrize("norm, eps, step", [("linf", 0.1, 0.025), ("l2", 1.0, 0.25)])
def test_pgd_matches_art(norm, eps, step):
    import torch  # the torch backend is running, so torch is installed
    from art.attacks.evasion import ProjectedGradientDescent  # the `test` extra
    from art.estimators.classification import PyTorchClassifier

    model = kzoo.load("digits-lt10-cnn-ce")
    assert isinstance(model, torch.nn.Module)
    ds = kzoo.data.load("digits")
    x, y = ds.x_test, ds.y_test
    classifier = PyTorchClassifier(
        model=model, loss=torch.nn.CrossEntropyLoss(), input_shape=(8, 8, 1), nb_classes=10,
        clip_values=(0.0, 1.0), channels_first=False, device_type="cpu")
    attack = ProjectedGradientDescent(
        classifier, norm=np.inf if norm == "linf" else 2, eps=eps, eps_step=step, max_iter=10,
        num_random_init=0, batch_size=len(x), verbose=False)
    art_acc = np.mean(classifier.predict(attack.generate(x, y=y)).argmax(1) == y)
    ours = pgd(model, x, y, epsilon=eps, step_size=step, steps=10, norm=norm)
    our_acc = np.mean(kzoo.metrics.predict_proba(model, ours).argmax(1) == y)
    clean = np.mean(kzoo.metrics.predict_proba(model, x).argmax(1) == y)
    print(f"\n{norm}: ART {art_acc:.4f}, kzoo {our_acc:.4f}, clean {clean:.4f}")
    assert our_acc < clean - 0.1  # the attack bites
    assert abs(our_acc - art_acc) <= 0.01, (our_acc, art_acc)


TORCH_ONLY = pytest.mark.skipif(BACKEND != "torch",
                                reason="AutoAttack engines here are torch-only")


def test_robust_accuracy_counts_what_eager_pgd_leaves_correct():
    """The curve (its attack one TensorFlow graph from ``GRAPH_MIN_BATCHES`` batches on,
    ``kzoo.backend.compiled``) against its oracle: eager ``pgd`` on NumPy batches, then the
    model's predictions; with a last, smaller batch (150 = 4 * 32 + 22)."""
    net = kzoo.load("digits-cnn-madry").classifier
    ds = kzoo.data.load("digits")
    x, y = ds.x_test[:150], ds.y_test[:150]
    assert robustness.GRAPH_MIN_BATCHES <= 5
    curve = kzoo.metrics.robust_accuracy(net, x, y, [0.1, 0.2], steps=5, batch_size=32)
    for eps, acc in curve.items():
        x_adv = np.concatenate([pgd(net, x[i:i + 32], y[i:i + 32], epsilon=eps,
                                    step_size=2.5 * eps / 5, steps=5)
                                for i in range(0, 150, 32)])
        oracle = np.mean(kzoo.metrics.predict_proba(net, x_adv).argmax(-1) == y)
        assert acc == oracle, (eps, acc, oracle)
    assert 0 < curve[0.2] < curve[0.1] < 1


def test_a_model_with_several_outputs_is_attacked_and_scored_on_its_last():
    """As ``pgd`` attacks it (the AC-GAN critic's ``(source, class logits)``): the curve of
    a model returning ``[features, logits]`` is that of its logits alone, radius 0 too, and
    so are its probabilities and the channels-first view AutoAttack's engines attack."""
    net = kzoo.load("digits-cnn-madry").classifier
    ds = kzoo.data.load("digits")
    x, y = ds.x_test[:150], ds.y_test[:150]
    inputs = keras.Input(x.shape[1:])
    logits = net(inputs)
    both = keras.Model(inputs, [keras.ops.mean(logits, axis=-1, keepdims=True), logits])
    for batch_size in (32, 150):  # the compiled attack (from 4 batches on) and the eager one
        args = (x, y, [0, 0.1]), {"steps": 3, "batch_size": batch_size}
        assert kzoo.metrics.robust_accuracy(both, *args[0], **args[1]) == \
            kzoo.metrics.robust_accuracy(net, *args[0], **args[1])
    np.testing.assert_array_equal(kzoo.metrics.predict_proba(both, x),
                                  kzoo.metrics.predict_proba(net, x))
    nchw = x[:8].transpose(0, 3, 1, 2)  # AutoAttack's engines' view (torch) returns the logits
    np.testing.assert_array_equal(_np(kzoo.nets.channels_first(both)(nchw)),
                                  _np(kzoo.nets.channels_first(net)(nchw)))


@TORCH_ONLY
def test_autoattack_is_at_least_as_strong_as_pgd():
    """ART's engine on the Madry preset at its training radius: no more robust accuracy than
    PGD-20 (AutoAttack starts with a 100-step APGD and adds targeted runs), and not zero."""
    pytest.importorskip("art")
    net = kzoo.load("digits-cnn-madry").classifier
    ds = kzoo.data.load("digits")
    x, y = ds.x_test[:100], ds.y_test[:100]
    acc, settings = robustness.autoattack_accuracy(net, x, y, 0.2, engine="art",
                                                   square_queries=200)
    pgd20 = kzoo.metrics.robust_accuracy(net, x, y, [0.2], steps=20)[0.2]
    print(f"\nAutoAttack {acc:.2f}, PGD-20 {pgd20:.2f}")
    assert 0 < acc <= pgd20 + 0.01
    assert settings == {"engine": "art", "version": settings["version"], "norm": "linf",
                        "epsilon": 0.2, "attacks": ["apgd-ce", "apgd-t", "square"],
                        "apgd_steps": 100, "square_queries": 200, "seed": 0, "n": 100}
    assert robustness.autoattack_available() in robustness.ENGINES


@TORCH_ONLY
def test_a_card_runs_autoattack_on_the_first_test_images():
    """``[eval] autoattack_examples``: the card's AutoAttack attacks the first n test images
    and its text says so."""
    pytest.importorskip("art")
    source = kzoo.recipes.Recipe.from_file(ROOT / "recipes/madry/digits.toml").source
    recipe = kzoo.recipes.Recipe({**source, "eval": {
        **source["eval"], "autoattack_examples": 20, "autoattack_square_queries": 50}})
    game, ds = kzoo.load("digits-cnn-madry"), recipe.dataset()
    result, evaluation = roles.Classifier().slow_report(game, ds, recipe)
    acc, settings = robustness.autoattack_accuracy(game.classifier, ds.x_test[:20],
                                                   ds.y_test[:20], 0.1, square_queries=50)
    assert result == {"autoattack_accuracy@0.1": round(acc, 6)} and settings["n"] == 20
    assert evaluation["autoattack"]["n"] == 20 and len(ds.y_test) == 540
    assert roles._first(20, 540) == "the first 20 of the 540" and roles._first(540, 540) == "540"


@TORCH_ONLY
def test_autoattack_refusals(linear):
    model, _, x, y = linear
    images = np.zeros((2, 4, 4, 1), "float32")
    with pytest.raises(ValueError, match="engine must be one of 'autoattack', 'torchattacks', "
                                         "'art'; got 'cw'"):
        robustness.autoattack_accuracy(model, images, [0, 1], 0.1, engine="cw")
    if robustness.autoattack_available() is None:
        with pytest.raises(ImportError, match="pip install adversarial-robustness-toolbox"):
            robustness.autoattack_accuracy(model, images, [0, 1], 0.1)
        return
    with pytest.raises(ValueError, match="epsilon must be a finite number > 0; got 0"):
        robustness.autoattack_accuracy(model, images, [0, 1], 0)
    with pytest.raises(ValueError, match=r"x must be images \(n, h, w, c\) in \[0, 1\]; got "
                                         r"shape \(5, 6\)"):
        robustness.autoattack_accuracy(model, x, y, 0.1)


def test_kzoo_eval_takes_autoattack_as_true_or_false(monkeypatch):
    monkeypatch.setattr(runs, "report", lambda *a, **k: pytest.fail("evaluated first"))
    with pytest.raises(ValueError, match=r"^autoattack must be true or false; got 'no'\.$"):
        runs.evaluate("digits-cnn-madry", autoattack="no")


@pytest.mark.skipif(BACKEND == "torch", reason="checks the refusal on tensorflow and jax")
def test_autoattack_refuses_other_backends(linear, monkeypatch):
    model, _, x, y = linear
    assert robustness.autoattack_available() is None
    with pytest.raises(RuntimeError, match=f"torch backend only .* KERAS_BACKEND is "
                                           f"'{BACKEND}': set KERAS_BACKEND=torch"):
        robustness.autoattack_accuracy(model, x, y, 0.1)
    # kzoo eval --autoattack says so before it evaluates anything (PGD takes minutes)
    monkeypatch.setattr(runs, "report", lambda *a, **k: pytest.fail("evaluated first"))
    with pytest.raises(ValueError, match=r"kzoo eval --autoattack\) needs an AutoAttack engine"
                                         f".* the backend is {BACKEND}"):
        runs.evaluate("digits-cnn-madry", autoattack=True)
