"""``kzoo demo``: a tour of the whole zoo on the embedded digits, in seconds.

1. lists every preset with its card's numbers;
2. long tail: loads the long-tailed digits classifiers (CE, LDAM-DRW, AEGL, Meta-IADA),
   evaluates them on the test set, fine-tunes the CE preset with class-balanced weights
   (progress bar) and compares;
3. robustness: sets the Madry-trained preset against the CE preset under a PGD attack;
4. label noise: the Meta-IADA preset trained under 40% flipped labels against its card;
5. generators: writes a sample grid (or, for 2-D data, a scatter) of every generator
   preset into ``out`` and names each file.

Examples:
    >>> from kzoo import demo
    >>> demo.run(out="kzoo-demo", fine_tune_epochs=5)
"""

import time
from pathlib import Path

CE_PRESET = "digits-lt10-cnn-ce"
LONG_TAIL = ("digits-lt10-cnn-ce", "digits-lt10-cnn-ldam-drw", "digits-lt10-cnn-aegl",
             "digits-lt10-cnn-meta-iada")
ROBUST = ("digits-cnn-madry", "digits-lt10-cnn-ce")
NOISY = "digits-flip40-cnn-meta-iada"
EPSILON = 0.1
KEYS = ("accuracy", "balanced_accuracy", "head_accuracy", "medium_accuracy", "tail_accuracy")


def run(out="kzoo-demo", fine_tune_epochs=5, attack_steps=20):
    """Runs the tour; writes the sample grids into ``out``; returns their paths.

    Args:
        out: path. Directory for the sample grids (created). Default "kzoo-demo".
        fine_tune_epochs: int >= 1. Class-balanced fine-tuning epochs. Default 5.
        attack_steps: int >= 1. PGD steps of the robustness section. Default 20.
    """
    import keras

    from kzoo import backend, files, games, metrics, runs, validate, zoo
    from kzoo.recipes import Recipe
    from kzoo.tables import format_table

    fine_tune_epochs = validate.integer("fine_tune_epochs", fine_tune_epochs, low=1)
    attack_steps = validate.integer("attack_steps", attack_steps, low=1)
    out = Path(out)
    files.check_writable(out)
    start = time.perf_counter()
    print(f"kzoo demo on the {backend.name} backend\n\n1. The zoo ({zoo.ZOO_DIR}):")
    cards = zoo.presets()
    print(format_table([(c.name, c.game, c.headline(), c.backend)
                        for c in cards], ["preset", "game", "card metrics", "trained on"]))

    print("\n2. Long tail: digits at imbalance 10 (110 ... 11 training images per class)")
    results = []
    for name in LONG_TAIL:
        card, scores = runs.evaluate(name)
        results.append((name, scores))
        print(f"loaded {name} (sha256 verified): test accuracy {scores['accuracy']:.4f}, "
              f"card {card.metrics['accuracy']:.4f}")
    ds = Recipe(zoo.ModelCard.read(zoo.resolve(CE_PRESET)).recipe_spec).dataset()
    print(f"Fine-tuning {CE_PRESET} for {fine_tune_epochs} epoch(s) with class-balanced "
          f"weights on {ds.summary()}")
    keras.utils.set_random_seed(0)
    tuned = games.Classifier(zoo.load(CE_PRESET).classifier, loss="class_balanced",
                             class_counts=ds.class_counts())
    tuned.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    tuned.fit(ds.x_train, ds.y_train, validation_data=(ds.x_val, ds.y_val),
              epochs=fine_tune_epochs, batch_size=64, verbose=1)
    results.append((f"{CE_PRESET} + {fine_tune_epochs} epoch(s) class-balanced",
                    metrics.classification_report(
                        ds, metrics.predict_proba(tuned, ds.x_test).argmax(-1))))
    print(format_table([(name, *(s[k] for k in KEYS)) for name, s in results],
                       ["model (balanced test set)", "accuracy", "balanced", "head", "medium",
                        "tail"]))

    print(f"\n3. Robustness: linf PGD-{attack_steps}, epsilon {EPSILON} ([0, 1] pixels), "
          f"digits test set")
    rows = []
    for name in ROBUST:
        curve = metrics.robust_accuracy(zoo.load(name), ds.x_test, ds.y_test, [0.0, EPSILON],
                                        steps=attack_steps)
        rows.append((name, zoo.ModelCard.read(zoo.resolve(name)).game, curve[0.0],
                     curve[EPSILON]))
    print(format_table(rows, ["model", "game", "clean accuracy", f"accuracy at {EPSILON}"]))

    card, scores = runs.evaluate(NOISY)
    print(f"\n4. Label noise: {NOISY} ({card.data['summary']}): test accuracy "
          f"{scores['accuracy']:.4f}, card {card.metrics['accuracy']:.4f}")

    print(f"\n5. Generators: samples written to {out}/")
    written = []
    for c in cards:
        if runs.samples_from(c):
            written.append(runs.sample(c.name, out / f"{c.name}.png")[0])
            print(f"{c.name:<24} {c.game:<10} {c.headline()} -> "
                  f"{written[-1]}")
    print(f"\ndone in {time.perf_counter() - start:.1f} s. Next: kzoo train "
          f"digits-lt10-ldam-drw (a shipped recipe: kzoo recipes), kzoo sample "
          f"digits-robust-wgan-gp, kzoo --help.")
    return written
