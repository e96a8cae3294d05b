"""Milliseconds per training step, on every backend (each in its own process).

Table 1, kzoo's Classifier vs Keras' built-in fit: both train the same small CNN (same
initial weights) on 8x8 digits, batch 128, SGD, with sparse cross-entropy and an
accuracy metric; Keras' side is a plain functional model compiled with
``SparseCategoricalCrossentropy(from_logits=True)`` and trained by its own ``fit``. For
``jit_compile`` in (False, True), epochs of the two alternate after one warm-up epoch
each; the table reports the median ms/step and the ratio kzoo / keras.

Table 2, the adversarial games against the ERM step (``jit_compile="auto"``): Madry's
PGD-k training needs k attack passes (forward + input gradient) and one training pass,
so about k + 1 forward/backward passes; AEGL-k needs k attack passes, one prediction of
the attacked batch and two training passes (clean and guiding examples), about k + 2.
Meta-IADA's meta step (after its warm-up) makes a training pass kept differentiable, a
meta-batch pass through the virtual weights differentiated twice, and the real training
pass: about 3 (``meta_scope="full"``); with ``"last_layer"`` the second order stays in
the dense head, about 2 plus a forward pass of the meta batch.

Table 3, each base GAN (DCGAN pair, 8x8 digits, n_critic 1) against its RobustGAN form:
the robust critic step adds two input-gradient passes (worst real, worst fake) and a second
critic loss, the robust generator step a gradient pass for the worst noise and a second
generator pass, so about 3x.

Table 4, BadDataGAN's step against its parts: a conditional WGAN-GP step (DCGAN pair,
5 critic steps; for the JS form a conditional DCGAN step, 1 critic step) plus an ERM
step of the classifier. BadDataGAN runs its classifier step on twice the batch (real and
generated) and adds a classifier forward and backward pass inside the generator's step:
its ideal is about the GAN step plus three classifier steps.

Table 5, RobGAN's co-training step against AC-GAN's (conditional DCGAN generator, AC-GAN
critic with batch norm, n_dis 1): RobGAN adds k PGD passes of the critic (forward and
input gradient) on the real batch, so its ideal is the AC-GAN step plus k attack passes.
An attack pass is timed as the difference between RobGAN with k = 5 and k = 1, over 4.

Table 6, each game of table 2 against the sum of its parts, each part timed as a step of
its own under the same trainer (a game whose step runs only that part): the ERM step (E),
the ERM step on twice the batch (E2), a forward pass in inference mode (F), Madry's PGD-k
attack (A_k), AEGL's guiding examples with k = 3 (G_3: the attack and a prediction of the
attacked batch) and Meta-IADA's meta gradients (MG: steps 1-2, second order). Madry PGD-k
is A_k + E + F (F: the clean-accuracy log), AEGL k=3 is G_3 + E2 (one update on the clean
and the attacked batch), Meta-IADA is MG + E (the real step). Where a step is close to its
parts' sum, its cost above the pass count of table 2 is the parts' own cost on that
backend, not the game's. On JAX, XLA's count of each compiled step's floating-point
operations is printed beside it (the step's against its parts' sum).

    python benchmarks/step_time.py [--backends tensorflow,torch,jax] [--rounds 7]
        [--tables fit,games,gans,bad_data_gan,robgan,parts]
"""

import argparse
import json
import os
import platform
import subprocess
import sys

from common import markdown_table

BATCH = 128
STEPS_PER_EPOCH = 40
TABLES = ("fit", "games", "gans", "bad_data_gan", "robgan", "parts")


def median_ms(game, x, y, rounds, batch_size=BATCH):
    """The median ms/step of ``rounds`` epochs of ``game.fit(x, y)``, after one epoch of
    warm-up (compilation)."""
    import numpy as np

    from kzoo.callbacks import StepTimer

    ms = []
    for r in range(rounds + 1):
        timer = StepTimer()
        game.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                 callbacks=[timer])
        if r:
            ms.extend(timer.history)
    return float(np.median(ms))


def worker(rounds, jit_modes, tables):
    import keras
    import numpy as np

    import kzoo
    from kzoo.callbacks import StepTimer
    from kzoo.losses.gan import LOSSES as GAN_LOSSES

    ds = kzoo.data.load("digits")
    reps = -(-BATCH * STEPS_PER_EPOCH // len(ds.y_train))
    x = np.tile(ds.x_train, (reps, 1, 1, 1))[: BATCH * STEPS_PER_EPOCH]
    y = np.tile(ds.y_train, reps)[: BATCH * STEPS_PER_EPOCH]
    rows = []
    for jit in jit_modes if "fit" in tables else ():
        keras.utils.set_random_seed(0)
        net = kzoo.nets.small_cnn(ds.input_shape, ds.num_classes)
        plain = keras.models.clone_model(net)
        plain.set_weights(net.get_weights())
        game = kzoo.games.Classifier(net, loss="ce")
        game.compile(keras.optimizers.SGD(0.01, momentum=0.9), jit_compile=jit)
        plain.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"], jit_compile=jit)
        models = {"kzoo": game, "keras": plain}
        times = {name: [] for name in models}
        try:
            for r in range(rounds + 1):
                for name, model in models.items():
                    timer = StepTimer()
                    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                              callbacks=[timer])
                    if r:  # round 0 warms up (compilation)
                        times[name].extend(timer.history)
            kz, ke = (float(np.median(times[n])) for n in ("kzoo", "keras"))
            rows.append({"jit_compile": jit, "kzoo_ms": kz, "keras_ms": ke, "ratio": kz / ke})
        except Exception as err:  # noqa: BLE001 - report, e.g. torch.compile failures
            rows.append({"jit_compile": jit, "error": f"{type(err).__name__}: {err}"[:200]})
    games = {
        "ERM (Classifier, CE)": (lambda n: kzoo.games.Classifier(n), 1),
        "Madry PGD-3": (lambda n: kzoo.games.PGDAdversarialTraining(n, epsilon=0.1, steps=3), 4),
        "Madry PGD-7": (lambda n: kzoo.games.PGDAdversarialTraining(n, epsilon=0.1, steps=7), 8),
        "AEGL k=3": (lambda n: kzoo.games.AEGL(n, class_counts=ds.class_counts(),
                                               tail_threshold=112, epsilon=0.1, steps=3), 5),
        **{f"Meta-IADA {scope}": (lambda n, scope=scope: kzoo.games.MetaIADA(
            n, class_counts=ds.class_counts(), num_samples=len(y), meta_scope=scope,
            meta_data=(ds.x_train[:200], ds.y_train[:200])), ideal)
           for scope, ideal in (("full", 3), ("last_layer", 2))},
    }
    game_rows = []
    for label, (make, ideal) in games.items() if "games" in tables else ():
        keras.utils.set_random_seed(0)
        game = make(kzoo.nets.small_cnn(ds.input_shape, ds.num_classes))
        game.compile(keras.optimizers.SGD(0.01, momentum=0.9))
        game_rows.append({"game": label, "ms": median_ms(game, x, y, rounds), "ideal": ideal})
    gan_rows = []
    images = 2 * x - 1
    for loss in GAN_LOSSES if "gans" in tables else ():
        row = {"loss": loss}
        for cls in (kzoo.games.GAN, kzoo.games.RobustGAN):
            keras.utils.set_random_seed(0)
            game = cls(kzoo.nets.dcgan_generator(ds.input_shape, 64),
                       kzoo.nets.dcgan_critic(ds.input_shape), loss=loss)
            game.compile()
            row[cls.__name__] = median_ms(game, images, None, rounds)
        gan_rows.append(row)
    bad_rows = []
    k = ds.num_classes

    def pair():
        return (kzoo.nets.dcgan_generator(ds.input_shape, 64, num_classes=k),
                kzoo.nets.dcgan_critic(ds.input_shape, num_classes=k))

    for form, loss, n_critic in (("wasserstein", "wgan_gp", 5), ("js", "ns", 1)) \
            if "bad_data_gan" in tables else ():
        keras.utils.set_random_seed(0)
        gan = kzoo.games.GAN(*pair(), loss=loss, n_critic=n_critic)
        gan.compile()
        classifier = kzoo.games.Classifier(kzoo.nets.small_cnn(ds.input_shape, k))
        classifier.compile(keras.optimizers.SGD(0.01, momentum=0.9))
        game = kzoo.games.BadDataGAN(*pair(), kzoo.nets.small_cnn(ds.input_shape, k), form=form,
                                     n_critic=n_critic)
        game.compile({"classifier": keras.optimizers.SGD(0.01, momentum=0.9)})
        bad_rows.append({"form": form, "n_critic": n_critic,
                         "gan": median_ms(gan, images, y, rounds),
                         "classifier": median_ms(classifier, x, y, rounds),
                         "bad_data_gan": median_ms(game, x, y, rounds)})
    robgan_rows = []
    for steps in (0, 1, 5) if "robgan" in tables else ():
        keras.utils.set_random_seed(0)
        players = (kzoo.nets.dcgan_generator(ds.input_shape, 64, num_classes=k),
                   kzoo.nets.acgan_critic(ds.input_shape, k, batch_norm=True))
        game = (kzoo.games.RobGAN(*players, epsilon=0.1, steps=steps) if steps
                else kzoo.games.ACGAN(*players, loss="split"))
        game.compile()
        robgan_rows.append({"steps": steps, "ms": median_ms(game, x, y, rounds)})
    part_rows = parts(ds, x, y, rounds) if "parts" in tables else []
    print(json.dumps({"fit": rows, "games": game_rows, "gans": gan_rows,
                      "bad_data_gan": bad_rows, "robgan": robgan_rows, "parts": part_rows}))


def only(game_cls, part):
    """``game_cls`` whose training step runs only ``part(game, x, y)`` (tensors, all of
    which it logs, so that no compiler drops them): the part timed under the same
    trainer as the whole step."""
    import keras
    from keras import ops

    class Part(game_cls):
        log_names = ("part",)

        def train_step(self, data):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
            out = part(self, x, ops.reshape(ops.cast(y, "int32"), (-1,)))
            return self.record({"part": ops.sum(ops.stack([ops.mean(t) for t in out]))})

    return Part


def parts(ds, x, y, rounds):
    """Table 6: ``{"name": ms}`` of the games of table 2 and of their parts."""
    import keras

    import kzoo
    from kzoo.games import AEGL, Classifier, MetaIADA, PGDAdversarialTraining

    def forward(game, x, y):
        return [game.net(x, training=False)]

    def attack(game, x, y):
        return [game.attack(x, y)]

    def guiding(game, x, y):
        return list(game.guiding_examples(x, y))

    def meta(game, x, y):
        x, ids = x if isinstance(x, (tuple, list)) else (x, None)
        x_meta, y_meta = game.meta_batch()
        (loss, _), grads = game.meta_gradients(x, y, game.sample_history.read(ids), x_meta,
                                               y_meta)
        return [loss, *grads]

    aegl = {"class_counts": ds.class_counts(), "tail_threshold": 112, "epsilon": 0.1}
    meta_iada = {"class_counts": ds.class_counts(), "num_samples": len(y),
                 "meta_data": (ds.x_train[:200], ds.y_train[:200])}
    made = {  # name: (class, arguments, batch size)
        "E": (Classifier, {}, BATCH), "E2": (Classifier, {}, 2 * BATCH),
        "F": (only(Classifier, forward), {}, BATCH),
        **{f"A_{k}": (only(PGDAdversarialTraining, attack), {"epsilon": 0.1, "steps": k},
                      BATCH) for k in (3, 7)},
        **{f"Madry PGD-{k}": (PGDAdversarialTraining, {"epsilon": 0.1, "steps": k}, BATCH)
           for k in (3, 7)},
        "G_3": (only(AEGL, guiding), {**aegl, "steps": 3}, BATCH),
        "AEGL k=3": (AEGL, {**aegl, "steps": 3}, BATCH),
        "MG": (only(MetaIADA, meta), meta_iada, BATCH),
        "Meta-IADA full": (MetaIADA, meta_iada, BATCH),
    }
    times = {}
    for name, (cls, kwargs, batch) in made.items():
        keras.utils.set_random_seed(0)
        game = cls(kzoo.nets.small_cnn(ds.input_shape, ds.num_classes), **kwargs)
        game.compile(keras.optimizers.SGD(0.01, momentum=0.9))
        times[name] = median_ms(game, x, y, rounds, batch)
        if keras.config.backend() == "jax":
            times[f"{name} MFLOP"] = xla_mflop(game, x[:batch], y[:batch])
    return times


def xla_mflop(game, x, y):
    """The floating-point operations of ``game``'s compiled JAX training step on the batch
    ``(x, y)``, in millions, as XLA's cost analysis counts them."""
    import jax

    state = tuple([v.value for v in variables] for variables in (
        game.trainable_variables, game.non_trainable_variables, game.optimizer.variables,
        game.metrics_variables))
    data = (game.training_inputs(x), y)  # (Meta-IADA's: the rows' sample ids too)
    cost = jax.jit(game.train_step).lower(state, data).compile().cost_analysis()
    return (cost[0] if isinstance(cost, list) else cost)["flops"] / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,torch,jax")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--jit", default="false,true", help="jit_compile modes to time")
    parser.add_argument("--tables", default=",".join(TABLES),
                        help=f"tables to time, among {','.join(TABLES)}")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    jit_modes = [m.strip() == "true" for m in args.jit.split(",")]
    tables = [t.strip() for t in args.tables.split(",")]
    unknown = set(tables) - set(TABLES)
    if unknown:
        parser.error(f"--tables: unknown {sorted(unknown)}; allowed: {', '.join(TABLES)}")
    if args.worker:
        return worker(args.rounds, jit_modes, tables)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; batch {BATCH}, "
          f"{STEPS_PER_EPOCH} steps/epoch, median of {args.rounds} epochs each\n")
    results = {}
    for backend in args.backends.split(","):
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        done = subprocess.run(
            [sys.executable, __file__, "--worker", "--rounds", str(args.rounds), "--jit",
             args.jit, "--tables", args.tables], capture_output=True, text=True, env=env,
        )
        if done.returncode:
            print(f"{backend}: failed: {done.stderr.strip().splitlines()[-1][:200]}")
            continue
        results[backend] = json.loads(done.stdout.strip().splitlines()[-1])
    for name in tables:
        header, rows = REPORTS[name]
        lines = markdown_table(header, [r for b, result in results.items()
                                        for r in rows(b, result[name])])
        print("\n".join(lines) + "\n")


def _fit_rows(backend, rows):
    for row in rows:
        yield [backend, row["jit_compile"], row["error"], "", ""] if "error" in row else [
            backend, row["jit_compile"], f"{row['kzoo_ms']:.2f}", f"{row['keras_ms']:.2f}",
            f"{row['ratio']:.3f}"]


def _game_rows(backend, rows):
    for row in rows:
        yield [backend, row["game"], f"{row['ms']:.2f}", f"{row['ms'] / rows[0]['ms']:.2f}",
               f"~{row['ideal']}"]


def _gan_rows(backend, rows):
    for row in rows:
        yield [backend, row["loss"], f"{row['GAN']:.2f}", f"{row['RobustGAN']:.2f}",
               f"{row['RobustGAN'] / row['GAN']:.2f}", "~3"]


def _bad_data_gan_rows(backend, rows):
    for row in rows:
        ideal = row["gan"] + 3 * row["classifier"]
        yield [backend, f"{row['form']} (n_critic {row['n_critic']})", f"{row['gan']:.2f}",
               f"{row['classifier']:.2f}", f"{ideal:.2f}", f"{row['bad_data_gan']:.2f}",
               f"{row['bad_data_gan'] / ideal:.2f}"]


def _robgan_rows(backend, rows):
    if rows:
        acgan, one, five = (row["ms"] for row in rows)
        attack = (five - one) / 4
        ideal = acgan + 5 * attack
        yield [backend, *(f"{v:.2f}" for v in (acgan, one, five, attack, ideal, five / ideal))]


def _parts_rows(backend, t):
    if not t:
        return
    for game, names in (("Madry PGD-3", ("A_3", "E", "F")), ("Madry PGD-7", ("A_7", "E", "F")),
                        ("AEGL k=3", ("G_3", "E2")), ("Meta-IADA full", ("MG", "E"))):
        total = sum(t[n] for n in names)
        flops = (f"{t[game + ' MFLOP']:.0f} / {sum(t[n + ' MFLOP'] for n in names):.0f}"
                 if game + " MFLOP" in t else "")
        yield [backend, game, f"{t[game]:.2f}", " + ".join(f"{n} {t[n]:.2f}" for n in names),
               f"{total:.2f}", f"{t[game] / total:.2f}",
               ", ".join(f"{n} {t[n] / t['E']:.2f}" for n in names), flops]


# Each table: its header and the rows of one backend's results.
REPORTS = {
    "fit": (["backend", "jit_compile", "kzoo Classifier ms/step", "Keras fit ms/step", "ratio"],
            _fit_rows),
    "games": (["backend", "game", "ms/step", "ratio to ERM", "ideal ratio"], _game_rows),
    "gans": (["backend", "base loss", "GAN ms/step", "RobustGAN ms/step", "ratio",
              "ideal ratio"], _gan_rows),
    "bad_data_gan": (["backend", "form", "conditional GAN ms/step", "classifier ms/step",
                      "ideal (GAN + 3 classifier)", "BadDataGAN ms/step", "ratio to ideal"],
                     _bad_data_gan_rows),
    "robgan": (["backend", "AC-GAN ms/step", "RobGAN k=1", "RobGAN k=5", "attack pass",
                "ideal (AC-GAN + 5 passes)", "RobGAN k=5 / ideal"], _robgan_rows),
    "parts": (["backend", "game", "ms/step", "its parts", "sum of parts (ms)", "step / parts",
               "parts in ERM steps", "XLA MFLOP, step / parts (JAX)"], _parts_rows),
}

if __name__ == "__main__":
    main()
