"""The README, CONTRIBUTING.md and the docs run as written: every python and bash block, with
the epoch counts set to 1 (the same substitution for all), and the `kzoo list` transcript is
the command's output."""

import os
import re
import shlex

import pytest
from conftest import BACKEND, ROOT, once

import kzoo
from kzoo import cli

PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md",
         *sorted(p for p in (ROOT / "docs").rglob("*.md") if "results" not in p.parts)]
# (page, language, code) of every fenced block
BLOCKS = [(page.relative_to(ROOT), lang, code) for page in PAGES
          for lang, code in re.findall(r"^```(\w*)\n(.*?)^```", page.read_text(), re.S | re.M)]
# The README's own commands: `make demo` and `make test` are the demo test and this suite.
SELF = {"make demo", "make test"}


def one_epoch(text):
    text = re.sub(r"\bepochs\s*=\s*\d+", "epochs=1", text)
    return re.sub(r"(kzoo (?:train|compare-backends) [^#\n]*?)(\s*#.*)?$", r"\1 --epochs 1\2",
                  text, flags=re.M)  # before a line's comment, which the shell drops


def blocks(kind):
    return [code for _, lang, code in BLOCKS if lang == kind]


def where(kind):
    """Test ids: the page and the block's number among its ``kind`` blocks there."""
    seen, ids = {}, []
    for page, lang, _ in BLOCKS:
        if lang == kind:
            seen[page] = seen.get(page, 0) + 1
            ids.append(f"{page}:{seen[page]}")
    return ids


def test_every_block_is_tagged():
    assert {lang for _, lang, _ in BLOCKS} <= {"python", "bash", "text"}, \
        "tag each block python, bash (both run by this test) or text (output)"
    assert len(blocks("python")) >= 5 and len(blocks("bash")) >= 3


@once
@pytest.mark.parametrize("index", range(len(blocks("python"))), ids=where("python"))
def test_python_block_runs(index, tmp_path, monkeypatch, capsys):
    """Each block as a script of its own (a fresh namespace, its own working directory)."""
    code = one_epoch(blocks("python")[index])
    only = re.search(r"# KERAS_BACKEND=(\w+)", code)  # a block for one backend says so
    if only and only.group(1) != BACKEND:
        pytest.skip(f"the block runs on the {only.group(1)} backend only (its "
                    f"'# KERAS_BACKEND={only.group(1)}' comment)")
    if "import torch" in code and BACKEND != "torch":
        pytest.skip("the block uses PyTorch tools (ART), which take a Keras model only on the "
                    "torch backend")
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")  # as in a checkout
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{where('python')[index]}", "exec"), {"__name__": "__main__"})
    if "robust_accuracy" in code:  # the comment beside it: clean accuracy of the CE preset
        out = capsys.readouterr().out
        assert "0.0: 0.9425" in out, out
    if "ART PGD-20" in code:  # within a point of the card's PGD-20 number
        art = float(capsys.readouterr().out.split("ART PGD-20 at 0.1:")[1].split()[0])
        card = kzoo.zoo.ModelCard.read(kzoo.zoo.resolve("digits-cnn-madry"))
        assert abs(art - card.metrics["robust_accuracy@0.1"]) <= 0.01, art


@once
@pytest.mark.parametrize("index", range(len(blocks("bash"))), ids=where("bash"))
def test_bash_block_runs(index, tmp_path, capsys):
    (tmp_path / "recipes").symlink_to(ROOT / "recipes")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for line in one_epoch(blocks("bash")[index]).splitlines():
            command = line.split("#")[0].strip()
            if not command or command in SELF:
                continue
            words = shlex.split(command)
            assert words[0] == "kzoo", f"a bash line is not a kzoo command: {line}"
            assert cli.main(words[1:]) == 0, f"{line}\n{capsys.readouterr().err}"
            out = capsys.readouterr().out
            if words[1] == "compare-backends":  # one row per backend, accuracies in [0, 1]
                rows = [r.split() for r in out.splitlines() if r.split()[:1] and r.split()[0]
                        in ("tensorflow", "torch", "jax")]
                assert [r[0] for r in rows] == ["tensorflow", "torch", "jax"], out
                assert all(0 <= float(r[1]) <= 1 for r in rows), out
    finally:
        os.chdir(cwd)


def test_kzoo_list_transcript_is_its_output(capsys):
    transcript = next(code for _, lang, code in BLOCKS if lang == "text"
                      and code.startswith("$ kzoo list"))
    assert cli.main(["list"]) == 0
    assert capsys.readouterr().out == transcript.split("\n", 1)[1]
