"""One harness for every game: two tiny steps, then the checks every game must pass.

- every logged value is finite;
- every optimizer's ``iterations`` advanced by the number of steps;
- every player's trainable weights moved;
- ``get_config``/``from_config`` round-trips (same config, same output shape);
- a ``.keras`` file saved here loads under the next backend (a fresh process; over the
  three passes of ``make test``, tensorflow -> torch -> jax -> tensorflow) with outputs
  equal to 1e-5.
"""

import json
from pathlib import Path

import keras
import numpy as np
from conftest import next_backend, run_python

STEPS = 2


def optimizers_of(game):
    opt = game.optimizer
    return dict(getattr(opt, "optimizers", {})) or {"": opt}


def check_game(game, x, y, tmp_path, batch_size=8, cross_backend=True, imports=(), probe=None,
               updates_per_step=None, frozen=()):
    """Runs the checks above.

    ``imports``: test modules the loaders must import. ``probe``: what the served
    model takes (an array, or a list of arrays), default ``x[:16]``.
    ``updates_per_step``: ``{player: k}`` for players updated k times a step.
    ``frozen``: players that must not move (every weight kept).
    """
    n = batch_size * STEPS
    before = {p: _weights(getattr(game, p)) for p in game.players if p not in frozen}
    kept = {p: [keras.ops.convert_to_numpy(v).copy() for v in getattr(game, p).weights]
            for p in frozen}
    history = game.fit(x[:n], y[:n], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    for key, values in history.history.items():
        assert np.all(np.isfinite(values)), f"log {key} is not finite: {values}"
    for player, opt in optimizers_of(game).items():
        expected = STEPS * (updates_per_step or {}).get(player, 1)
        assert int(keras.ops.convert_to_numpy(opt.iterations)) == expected, opt.name
    for p, weights in kept.items():
        for a, b in zip(weights, getattr(game, p).weights):
            np.testing.assert_array_equal(a, keras.ops.convert_to_numpy(b), err_msg=p)
    for p in before:
        after = _weights(getattr(game, p))
        moved = max(float(np.abs(a - b).max()) for a, b in zip(after, before[p]))
        assert moved > 0, f"player {p} did not move"

    config = game.get_config()
    clone = type(game).from_config(json.loads(json.dumps(config)))
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    probe = [x[:16]] if probe is None else (list(probe) if isinstance(probe, (list, tuple))
                                            else [probe])
    two = [keras.ops.convert_to_tensor(p[:2]) for p in probe]
    two = two[0] if len(two) == 1 else two
    assert clone(two).shape == game(two).shape

    path = tmp_path / "game.keras"
    game.save(path)
    np.savez(tmp_path / "probe.npz", *probe)
    expected = keras.ops.convert_to_numpy(
        game.predict(probe[0] if len(probe) == 1 else probe, verbose=0))
    if not cross_backend:
        return
    code = (
        "import json, sys, numpy as np, keras, kzoo.zoo\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        + "".join(f"import {m}\n" for m in imports) +
        f"m = kzoo.zoo.load_file({str(path)!r})\n"
        f"probe = list(np.load({str(tmp_path / 'probe.npz')!r}).values())\n"
        "probe = probe[0] if len(probe) == 1 else probe\n"
        "out = keras.ops.convert_to_numpy(m.predict(probe, verbose=0))\n"
        "print(json.dumps(out.tolist()))"
    )
    other = next_backend()
    got = np.array(run_python(code, other))
    np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"loaded under {other}")


def _weights(player):
    return [keras.ops.convert_to_numpy(v).copy() for v in player.trainable_variables]
