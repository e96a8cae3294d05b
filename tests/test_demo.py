"""`kzoo demo`, the README's first command, tours the whole zoo (fast mode)."""

from conftest import once

from kzoo import cli, games, zoo


@once  # the tour's backend-dependent parts (loading, attacks) are tested on every backend
def test_demo_tours_every_game_and_writes_the_sample_grids(tmp_path, capsys):
    out = tmp_path / "grids"
    assert cli.main(["demo", "--fast", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for section in ("1. The zoo", "2. Long tail", "3. Robustness", "4. Label noise",
                    "5. Generators"):
        assert section in text
    for card in zoo.presets():
        assert card.name in text  # every preset, and so every game of the zoo, appears
        if "generator" in card.serves:
            grid = out / f"{card.name}.png"
            assert grid.stat().st_size > 5000 and str(grid) in text
    assert {c.game for c in zoo.presets()} == {n for n in games.GAMES if ":" not in n}
