"""The input pipeline and the GPU-ready options: augmentation (``[data] augment``), batches
made ahead by threads (``[fit] workers``), mixed precision (``[fit] precision``) and
loss-scaled updates (``kzoo.backend.descend``)."""

import keras
import numpy as np
import pytest
from conftest import ROOT

import kzoo
from kzoo import backend, paper_scale
from kzoo.data.augment import PAD, Augment
from kzoo.recipes import Recipe, RecipeError
from kzoo.resume import EpochBatches


def shift_of(image, source):
    """``(flipped, dy, dx)`` with ``image`` equal to ``source`` (or its mirror) moved by
    ``(dy, dx)`` pixels with zero fill, or None."""
    h, w = source.shape[:2]
    for flipped in (False, True):
        padded = np.pad(source[:, ::-1] if flipped else source, ((PAD, PAD), (PAD, PAD), (0, 0)))
        for dy in range(-PAD, PAD + 1):
            for dx in range(-PAD, PAD + 1):
                if np.array_equal(padded[PAD - dy:PAD - dy + h, PAD - dx:PAD - dx + w], image):
                    return flipped, dy, dx
    return None


def test_augment_shifts_and_flips_each_image_on_its_own(rng):
    # Positive pixels: a zero in the output can only be fill.
    x = rng.uniform(0.1, 1.0, (64, 12, 12, 3)).astype("float32")
    out = Augment(["crop", "flip"], (12, 12, 3))(x, seed=3)
    assert out.shape == x.shape and out.dtype == np.float32
    moves = [shift_of(o, s) for o, s in zip(out, x)]
    assert None not in moves, "an output is not a shift of its input or of its mirror"
    flips = sum(m[0] for m in moves)
    shifts = {m[1] for m in moves} | {m[2] for m in moves}
    assert 16 <= flips <= 48  # Binomial(64, 1/2): P(outside) < 1e-4
    assert shifts == set(range(-PAD, PAD + 1))  # 128 draws over 9 values
    assert len(set(moves)) > 20  # drawn per image, not once per batch


def test_augment_is_a_function_of_its_seed(rng):
    x = rng.random((8, 10, 10, 1)).astype("float32")
    augment = Augment(["flip", "crop"], (10, 10, 1))
    np.testing.assert_array_equal(augment(x, 5), augment(x, 5))
    assert not np.array_equal(augment(x, 5), augment(x, 6))
    flip_only = Augment(["flip"], (10, 10, 1))(x, 0)
    assert all(np.array_equal(o, s) or np.array_equal(o, s[:, ::-1])
               for o, s in zip(flip_only, x))


@pytest.mark.parametrize("names, shape, match", [
    (["rotate"], (32, 32, 3), "augment must be one of 'crop', 'flip'; got 'rotate'"),
    ([], (32, 32, 3), "augment must be a non-empty list"),
    ("crop", (32, 32, 3), "augment must be a non-empty list"),
    (["flip", "flip"], (32, 32, 3), "each augmentation once"),
    (["crop"], (8, 8, 1), r"larger than 8x8; got 8x8"),
    (["flip"], (64,), r"images \(height, width, channels\)"),
])
def test_augment_refusals(names, shape, match):
    with pytest.raises(ValueError, match=match):
        Augment(names, shape)


def test_epoch_batches_augment_images_only_and_replay(rng):
    x = rng.random((20, 12, 12, 1)).astype("float32")
    ids = np.arange(20)
    y = rng.integers(0, 3, 20)
    batches = EpochBatches((x, ids), y, 8, seed=1, augment=Augment(["crop"], (12, 12, 1)))
    (xb, idb), yb = batches[1]
    np.testing.assert_array_equal(yb, y[idb])  # ids, labels: rows, untouched
    assert all(shift_of(a, x[i]) is not None for a, i in zip(xb, idb))
    again = EpochBatches((x, ids), y, 8, seed=1, augment=Augment(["crop"], (12, 12, 1)))
    np.testing.assert_array_equal(again[1][0][0], xb)  # a resumed run sees the same batch
    batches.epoch = 1
    assert not np.array_equal(batches[1][0][0], xb)


def _tiny_classifier():
    return kzoo.games.Classifier(kzoo.nets.small_cnn((8, 8, 1), 3, width=4))


def test_workers_make_the_same_batches_in_the_same_order(rng):
    x = rng.random((40, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 40)
    weights = []
    for workers in (1, 2):
        keras.utils.set_random_seed(0)
        game = _tiny_classifier()
        game.compile(keras.optimizers.SGD(0.1))
        game.fit(EpochBatches(x, y, 8, seed=0, workers=workers), epochs=2, verbose=0,
                 shuffle=False)
        weights.append([np.asarray(w) for w in game.get_weights()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _recipe(**changes):
    spec = {"name": "t", "data": {"name": "digits"}, "net": {"arch": "small_cnn", "width": 4},
            "game": {"name": "Classifier"}, "optimizer": {"name": "sgd", "learning_rate": 0.1},
            "fit": {"epochs": 1, "batch_size": 64}}
    for key, value in changes.items():
        section, name = key.split("__")
        spec[section][name] = value
    return Recipe(spec)


@pytest.mark.parametrize("key, value, match", [
    ("fit__precision", "float16", r"\[fit\] precision must be one of 'float32', "
                                  r"'mixed_bfloat16', 'mixed_float16'; got 'float16'"),
    ("fit__workers", 0, r"\[fit\] workers must be .*>= 1.*got 0"),
    ("data__augment", ["crop", "zoom"], r"\[data\] augment must be one of .*got 'zoom'"),
])
def test_recipe_refusals(key, value, match):
    with pytest.raises(RecipeError, match=match):
        _recipe(**{key: value})


def test_recipe_refuses_a_crop_of_digits_before_training():
    recipe = _recipe(data__augment=["crop"])
    ds = recipe.dataset()
    with pytest.raises(RecipeError, match=r"\[data\] augment \"crop\".*larger than 8x8; got 8x8"):
        recipe.batches(recipe.build(ds), ds)


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_recipe_trains_under_mixed_precision(precision):
    recipe = _recipe(fit__precision=precision, data__augment=["flip"], fit__workers=2)
    before = keras.config.dtype_policy().name
    with recipe.precision():
        ds = recipe.dataset()
        game = recipe.build(ds)
        history = game.fit(recipe.batches(game, ds), epochs=1, verbose=0, shuffle=False)
    assert keras.config.dtype_policy().name == before
    net = game.net
    assert net.get_layer("features").compute_dtype == precision.split("_")[1]
    assert all(v.dtype == "float32" for v in net.variables)
    logits = game.classifier(ds.x_test[:4])
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"  # the logits head
    scaled = isinstance(game.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (precision == "mixed_float16")
    assert np.isfinite(history.history["loss"]).all()
    steps = -(-len(ds.y_train) // 64)
    assert int(keras.ops.convert_to_numpy(game.optimizer.iterations)) == steps


def test_mixed_float16_scales_every_player_of_a_group():
    keras.config.set_dtype_policy("mixed_float16")
    try:
        pair = kzoo.nets.gan_pair("mlp", (2,), latent_dim=2, hidden=(8,))
        gan = kzoo.games.GAN(*pair, loss="ns")
        gan.compile({"generator": "adam", "critic": "adam"})
        assert all(isinstance(o, keras.optimizers.LossScaleOptimizer)
                   for o in gan.optimizer.optimizers.values())
        points = np.random.default_rng(0).normal(size=(16, 2)).astype("float32")
        history = gan.fit(points, epochs=1, batch_size=8, verbose=0)
        assert np.isfinite(history.history["d_loss"]).all()
        assert all(int(keras.ops.convert_to_numpy(o.iterations)) == 2
                   for o in gan.optimizer.optimizers.values())
        meta = kzoo.games.MetaIADA(kzoo.nets.small_cnn((8, 8, 1), 3, width=4),
                                   class_counts=[5, 5, 5], history=False,
                                   meta_data=(np.zeros((3, 8, 8, 1), "float32"), np.arange(3)))
        with pytest.raises(ValueError, match="MetaIADA does not train under mixed_float16.*"
                                             "use mixed_bfloat16"):
            meta.compile("sgd")
    finally:
        keras.config.set_dtype_policy("float32")


def _quadratic(w):
    return lambda: keras.ops.sum((w.value - 3.0) ** 2) * 1e-6  # gradient 2e-6 (w - 3)


@pytest.mark.parametrize("scaled", [False, True])
def test_descend_is_one_plain_step_scaled_or_not(scaled):
    w = keras.Variable(np.array([1.0, -2.0], "float32"))
    opt = keras.optimizers.SGD(1000.0)
    if scaled:
        opt = keras.optimizers.LossScaleOptimizer(opt, initial_scale=2.0**10)
    opt.build([w])
    loss, aux = backend.descend(opt, _quadratic(w), [w])
    assert aux is None
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss), 1e-6 * (4 + 25), rtol=1e-5)
    # w - lr * 2e-6 (w - 3) = w - 2e-3 (w - 3): the scale multiplies and divides back.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w.value),
                               [1 + 4e-3, -2 + 1e-2], rtol=1e-5)


def test_descend_skips_a_step_whose_scaled_gradients_overflow():
    w = keras.Variable(np.array([1.0], "float32"))
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=2.0**15)
    opt.build([w])
    backend.descend(opt, lambda: keras.ops.sum(w.value) * np.float32(1e35), [w])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(w.value), [1.0])
    assert float(keras.ops.convert_to_numpy(opt.dynamic_scale)) == 2.0**14  # halved


def test_epoch_batches_move_to_the_next_epoch_without_a_checkpoint(rng):
    x = rng.random((16, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 3, 16)
    batches = EpochBatches(x, y, 8, seed=0, augment=Augment(["crop"], (28, 28, 1)))
    first = EpochBatches(x, y, 8, seed=0, augment=Augment(["crop"], (28, 28, 1)))[0][0]
    game = kzoo.games.Classifier(kzoo.nets.small_cnn((28, 28, 1), 3, width=4))
    game.compile("sgd")
    game.fit(batches, epochs=2, verbose=0, shuffle=False)
    assert batches.epoch == 2
    batches.epoch = 0
    np.testing.assert_array_equal(batches[0][0], first)


def test_full_run_steps_follow_the_long_tail():
    # CIFAR-10-LT at imbalance 100 after the 10% validation carve: floor(4500 * 100^(-i/9)).
    recipe = Recipe.from_file(ROOT / "recipes" / "classifier" / "cifar10-lt100-ce.toml")
    counts = [int(4500 * 100 ** (-i / 9)) for i in range(10)]
    assert sum(counts) == 11165
    assert paper_scale.full_run_steps(recipe) == (-(-11165 // 128), 11165)


def test_fresh_nets_replace_starts_named_by_run():
    folder = ROOT / "recipes"
    aegl = Recipe.from_file(folder / "aegl" / "cifar10-lt100.toml")
    fresh = paper_scale.with_fresh_nets(aegl, folder)
    assert fresh.source["net"] == {"arch": "resnet32"} and fresh.sha256 is None
    assert aegl.source["net"] == {"preset": "runs/cifar10-lt100-resnet32-ce"}  # not changed
    tune = paper_scale.with_fresh_nets(
        Recipe.from_file(folder / "robgan" / "cifar10-finetune.toml"), folder)
    robgan = Recipe.from_file(folder / "robgan" / "cifar10.toml").source["net"]
    assert tune.source["net"] == {"critic": robgan["critic"], "generator": robgan["generator"]}
