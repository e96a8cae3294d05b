"""Every game, tiny and without batch norm (but one Classifier with synchronized batch
norm, not on torch, which has none), trained for three steps of global batch 8 on
one device or data parallel; the weights, state and training logs of each saved to
``OUT/<game>.npz``.

    [KZOO_EAGER=1] python tests/data_parallel_games.py OUT DEVICES [GAME ...]

(under torch with DEVICES > 1, started by ``torchrun --nproc_per_node DEVICES``; under
JAX, one process, or one per ``KERAS_DISTRIBUTION_PROCESS_ID`` with the DEVICES split
between them; rank 0 writes). ``tests/test_data_parallel.py`` compares the runs.
"""

import contextlib
import os
import sys

if __name__ == "__main__" and os.environ.get("KERAS_BACKEND") == "jax":  # this process's
    local = int(sys.argv[2]) // int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", 1))
    os.environ["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={local} "
                               + os.environ.get("XLA_FLAGS", ""))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kzoo import data, distribute, games, nets  # noqa: E402

BATCH, STEPS, SEED = 8, 3, 0
EAGER = os.environ.get("KZOO_EAGER") == "1"  # the steps uncompiled (tracing costs more here)
SHAPE, LATENT, CLASSES = (8, 8, 1), 4, 10


def _digits():
    ds = data.load("digits")
    x, y = ds.x_train[:BATCH * STEPS], ds.y_train[:BATCH * STEPS]
    counts = [100, 60, 40, 30, 20, 15, 10, 8, 6, 5]  # a long tail, for the games needing one
    return ds, x, y, counts


def _cnn():
    return nets.small_cnn(SHAPE, CLASSES, width=4, batch_norm=False)


def _conditional_pair(acgan=False):
    generator = nets.dcgan_generator(SHAPE, LATENT, width=4, num_classes=CLASSES,
                                     batch_norm=False)
    if acgan:
        return generator, nets.acgan_critic(SHAPE, CLASSES, width=4)
    return generator, nets.dcgan_critic(SHAPE, width=4, num_classes=CLASSES)


def build(name, ds, counts):
    """``(game, x, y)``: the game ``name`` on digits (images in [-1, 1] for the GANs)."""
    x_meta = ds.x_val[:20]
    y_meta = np.arange(20) % CLASSES
    # SGD: Adam's first steps divide each gradient by its own size, so a coordinate whose
    # gradient is near zero turns rounding differences into steps of the learning rate
    sgd = keras.optimizers.SGD(0.05, momentum=0.9)
    if name == "Classifier":  # class weights: the loss normalised by the global batch's
        net = nets.small_cnn(SHAPE, CLASSES, width=4, batch_norm=False, normed_head=True)
        game = games.Classifier(net, loss="ldam", class_counts=counts, reweight_epoch=0)
    elif name == "ClassifierSyncBN":
        game = games.Classifier(nets.small_cnn(SHAPE, CLASSES, width=4), loss="ce")
    elif name == "PGDAdversarialTraining":
        game = games.PGDAdversarialTraining(_cnn(), epsilon=0.1, steps=2, seed=SEED)
    elif name == "AEGL":
        game = games.AEGL(_cnn(), class_counts=counts, tail_threshold=20, epsilon=0.1,
                          steps=2, seed=SEED)
    elif name == "MetaIADA":
        game = games.MetaIADA(_cnn(), class_counts=counts, meta_data=(x_meta, y_meta),
                              num_samples=BATCH * STEPS, warmup_steps=1, meta_batch_size=10,
                              seed=SEED)
    elif name in ("GAN", "RobustGAN"):
        pair = (nets.mlp_generator(2, LATENT, hidden=(8,)),  # RobustGAN's: spectral norm
                nets.mlp_critic(2, hidden=(8,), spectral_norm=name == "RobustGAN"))
        game = getattr(games, name)(*pair, loss="wgan_gp", n_critic=2, seed=SEED)
        game.compile(sgd, run_eagerly=EAGER)
        return game, "2d"
    elif name == "BadDataGAN":
        game = games.BadDataGAN(*_conditional_pair(), _cnn(), class_counts=counts,
                                n_critic=2, seed=SEED)
        game.compile(sgd, run_eagerly=EAGER)
        return game, "unit"
    elif name in ("ACGAN", "RobGAN"):
        kwargs = {"epsilon": 0.1, "steps": 2} if name == "RobGAN" else {}
        game = getattr(games, name)(*_conditional_pair(acgan=True), seed=SEED, **kwargs)
        game.compile(sgd, run_eagerly=EAGER)
        return game, "unit"
    elif name == "RobGANFineTune":
        generator, critic = _conditional_pair(acgan=True)
        game = games.RobGANFineTune(critic, generator, epsilon=0.1, steps=2, seed=SEED)
        game.compile(sgd, run_eagerly=EAGER)
        return game, "unit"
    elif name == "GeneratorAugmented":
        generator, _ = _conditional_pair()
        game = games.GeneratorAugmented(_cnn(), generator, class_counts=counts, seed=SEED)
    else:
        raise ValueError(f"unknown game {name!r}")
    game.compile(sgd, run_eagerly=EAGER)
    return game, "unit"


GAMES = ("Classifier", "ClassifierSyncBN", "PGDAdversarialTraining", "AEGL", "MetaIADA", "GAN",
         "RobustGAN", "BadDataGAN", "ACGAN", "RobGAN", "RobGANFineTune", "GeneratorAugmented")


def inputs(kind, x, y):
    if kind == "2d":
        rng = np.random.default_rng(SEED)
        return rng.normal(size=(BATCH * STEPS, 2)).astype("float32"), None
    return x, y


def main(out, devices, names):
    with distribute.data_parallel(devices) as engine:
        if distribute.is_chief():
            print("engine:", engine["engine"], "processes:", engine["processes"])
        # every process gets rank 0's value (a shuffle seed, a resumed epoch); each writes its
        # own file, as two processes' lines on one stdout can interleave
        with open(os.path.join(out, f"shared-{engine['rank']}.txt"), "w") as f:
            f.write(str(distribute.shared_int(100 + engine["rank"])))
        ds, x, y, counts = _digits()
        for name in names:
            keras.utils.set_random_seed(SEED)
            game, kind = build(name, ds, counts)
            gx, gy = inputs(kind, x, y)
            synced = distribute.synchronized_batch_norm(game) if name.endswith("SyncBN") \
                else contextlib.nullcontext()
            # an odd validation set: JAX's sharding needs even blocks (kzoo cuts them)
            validation = (gx[:5],) if gy is None else (gx[:5], gy[:5])
            with synced:
                history = game.fit(gx, gy, batch_size=BATCH, epochs=1, shuffle=False,
                                   verbose=0, validation_data=validation).history
            if distribute.is_chief():
                arrays = [keras.ops.convert_to_numpy(v) for v in
                          [*game.variables, *game.optimizer.variables]]
                logs = {f"log_{k}": np.asarray(v) for k, v in history.items()  # training's
                        if not k.startswith("val_")}
                np.savez(os.path.join(out, f"{name}.npz"), *arrays, **logs)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3:] or [
        g for g in GAMES if not (g.endswith("SyncBN") and keras.config.backend() == "torch")])
