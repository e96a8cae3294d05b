"""``kzoo demo``: the zoo's main job on the embedded digits, in under three minutes.

Lists the presets; loads the long-tailed digits presets (CE, LDAM-DRW, AEGL, Meta-IADA),
evaluates them on the test set, fine-tunes the cross-entropy preset for a few
epochs with class-balanced weights (progress bar) and compares; then sets the
Madry-trained preset against the CE preset under a PGD attack.
"""

import time

CE_PRESET = "digits-lt10-cnn-ce"
LONG_TAIL = ("digits-lt10-cnn-ce", "digits-lt10-cnn-ldam-drw", "digits-lt10-cnn-aegl",
             "digits-lt10-cnn-meta-iada")
ROBUST = ("digits-cnn-madry", "digits-lt10-cnn-ce")
EPSILON = 0.1


def run(fine_tune_epochs=5):
    import keras

    from kzoo import backend, metrics, runs, zoo
    from kzoo.games import Classifier
    from kzoo.recipes import Recipe
    from kzoo.tables import format_table

    start = time.perf_counter()
    print(f"kzoo demo on the {backend.name} backend\n")
    print("The zoo:")
    rows = [(c["name"], c["game"], c["metrics"]["accuracy"], c["backend"]) for c in zoo.presets()]
    print(format_table(rows, ["preset", "game", "card accuracy", "trained on"]), "\n")

    results = []
    for name in LONG_TAIL:
        card, scores = runs.evaluate(name)
        results.append((name, scores))
        print(f"loaded {name} (sha256 verified), evaluated on the test set: accuracy "
              f"{scores['accuracy']:.4f}, card {card['metrics']['accuracy']:.4f}")

    card = zoo.read_card(zoo.resolve(CE_PRESET))
    ds = Recipe(card["recipe_spec"]).dataset()
    print(f"\nFine-tuning {CE_PRESET} for {fine_tune_epochs} epochs with class-balanced "
          f"weights on {ds.summary()}")
    keras.utils.set_random_seed(0)
    tuned = Classifier(zoo.load(CE_PRESET).net, loss="class_balanced",
                       class_counts=ds.class_counts())
    tuned.compile(keras.optimizers.SGD(0.01, momentum=0.9))
    tuned.fit(ds.x_train, ds.y_train, validation_data=(ds.x_val, ds.y_val),
              epochs=fine_tune_epochs, batch_size=64, verbose=1)
    results.append((f"{CE_PRESET} + class-balanced fine-tune",
                    metrics.classification_report(
                        ds, metrics.predict_proba(tuned, ds.x_test).argmax(-1))))

    keys = ["accuracy", "balanced_accuracy", "head_accuracy", "medium_accuracy", "tail_accuracy"]
    print("\nLong-tailed digits (imbalance 10), balanced test set:")
    print(format_table([(name, *(s[k] for k in keys)) for name, s in results],
                       ["model", "accuracy", "balanced", "head", "medium", "tail"]))

    print(f"\nUnder attack: linf PGD, 20 steps, epsilon {EPSILON} ([0, 1] pixels), digits test set")
    rows = []
    for name in ROBUST:
        curve = metrics.robust_accuracy(zoo.load(name), ds.x_test, ds.y_test, [0.0, EPSILON],
                                        steps=20)
        rows.append((name, curve[0.0], curve[EPSILON]))
    print(format_table(rows, ["model", "clean accuracy", f"accuracy at {EPSILON}"]))
    print(f"\ndone in {time.perf_counter() - start:.1f} s")
