"""kzoo against a hand-written PyTorch loop: ms/step of the same net and game, per backend.

    python benchmarks/native_torch.py [--backends tensorflow,torch,jax]
        [--games erm,madry,keras,ops] [--net resnet32|small_cnn28] [--steps 5] [--rounds 3]
        [--batch 128] [--device cpu|cuda] [--out DIR] [--report-only]

Both sides train CIFAR-10's ResNet-32 (``--net resnet32``, the default: three stages of five
basic blocks, 16/32/64 channels, 1x1-convolution shortcuts when the shape changes, batch
norm of momentum 0.9 in Keras' terms (0.1 in torch's) and epsilon 1e-3, global average
pooling, a dense head; the script asserts that both have the same parameter count), or, with
``--net small_cnn28``, Fashion-MNIST's ``kzoo.nets.small_cnn`` of width 64 (three blocks of
a 3x3 convolution without bias, batch norm as above, ReLU and 2x2 max pooling, 64/128/256
channels, global average pooling, a dense head) on 28x28x1 inputs, on one synthetic batch of
the net's input shape (uniform [0, 1] images, labels 0-9, the same seed on both sides) with
SGD (rate 0.1, momentum 0.9, no weight decay). The games: ERM (``kzoo.games.Classifier``,
cross-entropy) and Madry's PGD-7 (``kzoo.games.PGDAdversarialTraining``: linf, epsilon
8/255, 7 sign steps of 2/255 from a uniform random start, the attack on the net in inference
mode, then one step on the adversarial batch only, ``clean_weight=0``; the step also logs
the clean accuracy, one inference pass of the clean batch, which the native loop makes too).
Where the time of kzoo's ERM step goes, two more rows per backend (``--games keras,ops``),
ERM on the same Keras net: ``keras``, a plain ``keras.Model`` compiled with Keras' SGD and
``sparse_categorical_crossentropy`` and trained by ``fit`` (Keras' trainer and its own
``train_step``: kzoo's step minus this is what kzoo's step adds); ``ops``, the forward pass,
gradient and SGD update as the backend runs them without Keras' trainer (JAX: one
``jax.jit`` of ``stateless_call``, ``jax.value_and_grad`` and the momentum update;
TensorFlow: a ``tf.function`` of a ``GradientTape`` step, XLA off as Keras' "auto" leaves
it here; torch: eager autograd through the Keras net and ``torch.optim.SGD``), the loss read
to the host every step (Keras' fit minus this is its trainer). On torch, ``ops_nchw`` is
``ops`` on the same small CNN built with ``data_format="channels_first"`` and fed NCHW
images (Keras' torch backend runs a channels-last convolution between two transposes).
Their ratio is to the native ERM loop.

The native side is plain torch (no Keras in its process), NCHW tensors, the batch resident
on the device, ``model.eval()`` for the attack (gradient with respect to the input only,
``torch.autograd.grad``) and ``model.train()`` for the update. The kzoo side is one process
per backend (``KERAS_BACKEND``), ``jit_compile`` left at Keras' choice ("auto"), NHWC
NumPy batches given to ``fit``. Each side warms up on one step (compilation), then times
``--steps`` steps, each from the end of the step before it to its own end (for kzoo, in
one ``fit`` call: its per-batch loop, not its set-up), and takes their median; the engines
run in turn, ``--rounds`` times (a fresh process each), and ms/step is the median over the
rounds, with the range beside it (this machine's step times drift by 10-30% between
processes minutes apart). Both read
the step's loss and accuracies back to the host every step (Keras does so for a callback
watching batches; a hand-written loop logging them does too), and on CUDA the native loop
synchronizes before reading the clock. The throughput ratio is native ms / kzoo ms, both
from the same rounds (1: kzoo as fast as native torch; the GPU goal is >= 0.8 for the torch
backend and >= 1 for the fastest backend). ``--device cpu`` hides the GPUs from every
process. Results accumulate in ``benchmarks/results/native_torch.json`` (keyed by device,
net, game and engine); the table is ``native_torch.md``.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from common import ROOT, add_to_cache, markdown_table, read_cache

GAMES = ("erm", "madry", "keras", "ops", "ops_nchw")
NATIVE_GAMES = ("erm", "madry")
LABELS = {"erm": "ERM (cross-entropy)", "madry": "Madry PGD-7",
          "keras": "ERM, plain Keras fit", "ops": "ERM, ops only (no trainer)",
          "ops_nchw": "ERM, ops only, NCHW Keras net"}
EPSILON, STEP_SIZE, PGD_STEPS = 8 / 255, 2 / 255, 7
LR, MOMENTUM = 0.1, 0.9


NETS = {"resnet32": (32, 32, 3), "small_cnn28": (28, 28, 1)}  # name: input shape
SMALL_CNN_WIDTH = 64


def synthetic(batch, net):
    """One batch for ``net``, NHWC float32 images in [0, 1] and int labels 0-9."""
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.random((batch, *NETS[net]), dtype="float32"), rng.integers(0, 10, batch)


def machine():
    return {"platform": platform.platform(), "cores": os.cpu_count()}


def native_resnet32(num_classes=10):
    """kzoo.nets.resnet32 in torch.nn, NCHW (initialisation aside: it does not change time)."""
    import torch
    from torch import nn

    def conv_bn(cin, cout, stride, k=3):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)]  # Keras' 0.9 and 1e-3

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(*conv_bn(cin, cout, stride), nn.ReLU(),
                                      *conv_bn(cout, cout, 1))
            self.shortcut = (nn.Sequential(*conv_bn(cin, cout, stride, k=1))
                             if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    layers, cin = [*conv_bn(3, 16, 1), nn.ReLU()], 16
    for stage, width in enumerate((16, 32, 64)):
        for block in range(5):
            layers.append(Block(cin, width, 2 if stage > 0 and block == 0 else 1))
            cin = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(64, num_classes))


def native_small_cnn(num_classes=10):
    """kzoo.nets.small_cnn((28, 28, 1), width=64) in torch.nn, NCHW."""
    from torch import nn

    layers, cin = [], 1
    for i in range(3):
        cout = SMALL_CNN_WIDTH * 2**i
        layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                   nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1), nn.ReLU(), nn.MaxPool2d(2)]
        cin = cout
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(cin, num_classes))


def native_worker(games, steps, batch, device, net):
    import numpy as np
    import torch
    import torch.nn.functional as F

    assert "keras" not in sys.modules, "the native process must not import Keras"
    x, y = synthetic(batch, net)
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device)  # NCHW
    y = torch.from_numpy(y).long().to(device)

    def pgd(model):
        model.eval()
        x_adv = (x + torch.empty_like(x).uniform_(-EPSILON, EPSILON)).clamp(0, 1)
        for _ in range(PGD_STEPS):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y, reduction="sum"),
                                          x_adv)
            x_adv = x + (x_adv.detach() + STEP_SIZE * grad.sign() - x).clamp(-EPSILON, EPSILON)
            x_adv = x_adv.clamp(0, 1)
        model.train()
        return x_adv.detach()

    def step(model, opt, game):
        inputs = pgd(model) if game == "madry" else x
        logits = model(inputs)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        logs = [loss.detach(), (logits.argmax(1) == y).float().mean()]
        if game == "madry":  # kzoo's step logs the clean accuracy: one inference pass
            with torch.no_grad():
                model.eval()
                logs.append((model(x).argmax(1) == y).float().mean())
                model.train()
        return torch.stack(logs).tolist()  # to the host, as Keras' logs

    for game in (g for g in games if g in NATIVE_GAMES):
        torch.manual_seed(0)
        model = (native_resnet32() if net == "resnet32" else native_small_cnn()).to(device)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        ends = []
        for _ in range(steps + 1):  # one warm-up step, then the timed ones
            step(model, opt, game)
            if device == "cuda":
                torch.cuda.synchronize()
            ends.append(time.perf_counter())
        ms = 1000 * float(np.median(np.diff(ends)))
        stats = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                    if isinstance(m, torch.nn.BatchNorm2d))
        trainable = sum(p.numel() for p in model.parameters())
        print(json.dumps({
            "game": game, "net": net, "engine": "native torch", "ms": ms, "jit_compile": "eager",
            "runs_on": (torch.cuda.get_device_name() if device == "cuda" else "cpu"),
            "trainable_params": trainable, "params": trainable + stats,
            "versions": {"torch": torch.__version__}, **machine()}), flush=True)


def kzoo_worker(games, steps, batch, net_name):
    import keras
    import numpy as np

    import kzoo
    from kzoo import backend

    class Ends(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_end(self, batch, logs=None):  # logs are host floats by now
            self.times.append(time.perf_counter())

    def fit_ms(model):
        ends = Ends()
        model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[ends])
        return 1000 * float(np.median(np.diff(ends.times)))

    x, y = synthetic(batch, net_name)
    x, y = np.tile(x, (steps + 1, 1, 1, 1)), np.tile(y, steps + 1)  # warm-up + timed
    for game_name in games:
        row = {"game": game_name, "net": net_name, "engine": backend.name,
               "versions": backend.versions(), **machine()}
        try:
            keras.utils.set_random_seed(0)
            net = (kzoo.nets.resnet32((32, 32, 3), 10) if net_name == "resnet32" else
                   kzoo.nets.small_cnn((28, 28, 1), 10, width=SMALL_CNN_WIDTH))
            row["params"] = int(net.count_params())
            row["trainable_params"] = int(sum(np.prod(w.shape) for w in net.trainable_weights))
            device = str(getattr(net.weights[0].value, "device", "?"))
            row["runs_on"] = device.split("device:")[-1]  # TensorFlow's: /job:.../device:CPU:0
            if game_name.startswith("ops"):
                if game_name == "ops_nchw":
                    if backend.name != "torch":
                        continue
                    keras.utils.set_random_seed(0)
                    net = small_cnn_nchw()
                    assert net.count_params() == row["params"], "the NCHW net differs"
                    inputs = x[:batch].transpose(0, 3, 1, 2).copy()
                else:
                    inputs = x[:batch]
                row["ms"], row["jit_compile"] = ops_ms(net, inputs, y[:batch], steps)
                print(json.dumps(row), flush=True)
                continue
            game = (kzoo.games.Classifier(net, loss="ce") if game_name == "erm" else
                    keras.Model(net.inputs, net.outputs) if game_name == "keras" else
                    kzoo.games.PGDAdversarialTraining(
                        net, epsilon=EPSILON, step_size=STEP_SIZE, steps=PGD_STEPS,
                        norm="linf", random_start=True, seed=0))
            game.compile(keras.optimizers.SGD(LR, momentum=MOMENTUM),
                         **({"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
                            if game_name == "keras" else {}))
            row["ms"] = fit_ms(game)
            row["jit_compile"] = game.jit_compile
        except Exception as err:  # noqa: BLE001 - report (e.g. out of memory)
            row["error"] = f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]
        print(json.dumps(row), flush=True)


def small_cnn_nchw(num_classes=10):
    """kzoo.nets.small_cnn((28, 28, 1), width=64) as a Keras net on NCHW images."""
    import keras
    from keras import layers

    x = inputs = keras.Input((1, 28, 28))
    for i in range(3):
        x = layers.Conv2D(SMALL_CNN_WIDTH * 2**i, 3, padding="same", use_bias=False,
                          data_format="channels_first")(x)
        x = layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-3)(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2, data_format="channels_first")(x)
    x = layers.GlobalAveragePooling2D(data_format="channels_first")(x)
    return keras.Model(inputs, layers.Dense(num_classes)(x))


def ops_ms(net, x, y, steps):
    """``(ms/step, jit)``: forward, gradient and SGD-with-momentum update of ``net`` on the
    batch ``(x, y)`` as the backend runs them without Keras' trainer, the loss read to the
    host each step; one warm-up step, then the median of ``steps``."""
    import keras
    import numpy as np

    backend = keras.config.backend()
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def loss_fn(trainable, other, xb, yb):
            logits, other = net.stateless_call(trainable, other, xb, training=True)
            log_p = jax.nn.log_softmax(logits)
            return -jnp.mean(jnp.take_along_axis(log_p, yb[:, None], 1)), other

        @jax.jit
        def step(trainable, other, velocity, xb, yb):
            (loss, other), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                trainable, other, xb, yb)
            velocity = [MOMENTUM * v - LR * g for v, g in zip(velocity, grads)]
            return [t + v for t, v in zip(trainable, velocity)], other, velocity, loss

        state = ([v.value for v in net.trainable_variables],
                 [v.value for v in net.non_trainable_variables],
                 [jnp.zeros_like(v.value) for v in net.trainable_variables])
        xb, yb = jnp.asarray(x), jnp.asarray(y)

        def run():
            nonlocal state
            *state, loss = step(*state, xb, yb)
            return float(loss)
    elif backend == "tensorflow":
        import tensorflow as tf

        velocity = [tf.Variable(tf.zeros_like(v.value)) for v in net.trainable_variables]
        xb, yb = tf.constant(x), tf.constant(y)

        @tf.function(jit_compile=False)
        def step():
            with tf.GradientTape() as tape:
                logits = net(xb, training=True)
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
            grads = tape.gradient(loss, [v.value for v in net.trainable_variables])
            for var, vel, g in zip(net.trainable_variables, velocity, grads):
                vel.assign(MOMENTUM * vel - LR * g)
                var.assign_add(vel)
            return loss

        def run():
            return float(step())
    else:
        import torch
        import torch.nn.functional as F

        params = [v.value for v in net.trainable_variables]
        opt = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)
        xb, yb = torch.from_numpy(x), torch.from_numpy(y).long()

        def run():
            loss = F.cross_entropy(net(xb, training=True), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return float(loss.detach())
    ends = []
    for _ in range(steps + 1):
        run()
        ends.append(time.perf_counter())
    return 1000 * float(np.median(np.diff(ends))), backend == "jax"


def report(cache, out):
    lines, rows = [], []
    for r in sorted(cache.values(), key=lambda r: (r["device"], r["net"], r["game"],
                                                   r["engine"] != "native torch", r["engine"])):
        if "error" in r:
            rows.append([r["device"], r["net"], LABELS[r["game"]], r["engine"], "", "",
                         "failed: " + r["error"][:80], ""])
            continue
        ratio = f"{r['native_ms'] / r['ms']:.2f}" if r.get("native_ms") else "-"
        spread = f"{min(r['rounds_ms']):.0f}-{max(r['rounds_ms']):.0f}"
        rows.append([r["device"], r["net"], LABELS[r["game"]], r["engine"], r["runs_on"],
                     r["jit_compile"], f"{r['ms']:.1f}", spread, ratio])
    machines = {(r["device"], r["net"]): r for r in cache.values()
                if r["engine"] == "native torch"}
    for r in machines.values():
        lines.append(f"{r['device']}, {r['net']}: {r['runs_on']}, {r['platform']}, {r['cores']} "
                     f"cores, torch {r['versions']['torch']}; batch {r['batch']}, median "
                     f"of {r['steps']} steps in each of {len(r['rounds_ms'])} rounds; "
                     f"run {r['run']}")
    table = "\n".join(lines + [""] + markdown_table(
        ["device", "net", "game", "engine", "runs on", "jit_compile", "ms/step",
         "range over rounds", "throughput / native torch"], rows))
    (out / "native_torch.md").write_text(table + "\n")
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="tensorflow,torch,jax")
    parser.add_argument("--games", default=",".join(GAMES))
    parser.add_argument("--net", default="resnet32", choices=tuple(NETS))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    games = [g for g in args.games.split(",") if g]
    if set(games) - set(GAMES) or min(args.steps, args.rounds, args.batch) < 1:
        parser.error(f"--games among {','.join(GAMES)} (got {args.games!r}); --steps, "
                     f"--rounds and --batch >= 1")
    if args.worker == "native":
        return native_worker(games, args.steps, args.batch, args.device, args.net)
    if args.worker:
        return kzoo_worker(games, args.steps, args.batch, args.net)
    from pathlib import Path

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_path = out / "native_torch.json"
    engines = [] if args.report_only else ["native", *args.backends.split(",")]
    run, fresh = time.strftime("%Y-%m-%d %H:%M"), {}
    for _, engine in ((r, e) for r in range(args.rounds) for e in engines):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": engine}
        if args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""  # every framework on the CPU
        done = subprocess.run([sys.executable, __file__, "--worker", engine, "--games",
                               ",".join(games), "--net", args.net, "--steps", str(args.steps),
                               "--batch",
                               str(args.batch), "--device", args.device],
                              capture_output=True, text=True, env=env)
        if done.returncode:
            print(f"{engine}: failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:200]}")
        for line in done.stdout.splitlines():
            if line.startswith("{"):
                row = {**json.loads(line), "device": args.device, "batch": args.batch,
                       "steps": args.steps, "run": run}
                key = f"{args.device}|{args.net}|{row['game']}|{row['engine']}"
                before = fresh.get(key, {})
                row["rounds_ms"] = before.get("rounds_ms", []) + [row["ms"]] * ("ms" in row)
                if "error" in before:  # a round that failed fails the row
                    row["error"] = before["error"]
                fresh[key] = row
                print(f"{row['engine']}, {row['game']}: {row.get('ms', row.get('error'))}")
    for row in fresh.values():
        if "error" not in row:
            row["ms"] = float(statistics.median(row["rounds_ms"]))
    for row in fresh.values():  # the ratio is to the native loop of the same rounds
        game = row["game"] if row["game"] in NATIVE_GAMES else "erm"
        native = fresh.get(f"{args.device}|{args.net}|{game}|native torch", {})
        row["native_ms"] = native.get("ms")
    counts = {(r["params"], r["trainable_params"]) for r in fresh.values() if "params" in r}
    assert len(counts) <= 1, f"the two {args.net} nets differ: (params, trainable) {counts}"
    if fresh:
        add_to_cache(cache_path, fresh, backend_of=lambda row: row["engine"])
    report(read_cache(cache_path), out)


if __name__ == "__main__":
    main()
