"""The stage scripts as DVC runs them: clean errors, tracebacks only on request, interrupts harmless."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seq2seq.data.vocab import Vocab
from seq2seq.fileio import write_json, write_pairs
from tests.conftest import REPO, write_params

WORDS = ("froid", "grand", "petit", "las", "triste", "fou", "content", "pret")
PAIRS = [(f"je suis {a} et {b} .", f"i am {a} and {b} .") for a in WORDS for b in WORDS]


def _default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and Python then
    # never installs its Ctrl-C handler: give the stage the default, as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stage(name: str, *args: str, params: Path, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "stages" / f"{name}.py"), *args, "--params", str(params)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, preexec_fn=_default_sigint, **kwargs)


def test_bad_param_gives_one_paragraph_and_exit_1(tmp_path):
    params = write_params(tmp_path / "p.yaml", split__test_fraction=1.5)
    proc = stage("split", "--pairs", "x", "--extra", "e", "--train", "y", "--extra-train", "f", "--test", "z",
                 "--stats", "s", params=params)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip() == "error: invalid value split.test_fraction = 1.5: expected a number strictly between 0 and 1."


def test_debug_variable_shows_the_traceback(tmp_path):
    params = write_params(tmp_path / "p.yaml", split__test_fraction=1.5)
    proc = stage("split", "--pairs", "x", "--extra", "e", "--train", "y", "--extra-train", "f", "--test", "z",
                 "--stats", "s", params=params,
                 env={"SEQ2SEQ_DEBUG": "1"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" in err


def test_prepare_with_nothing_left_names_the_params(tmp_path):
    (tmp_path / "raw.txt").write_text("Go.\tVa !\nRun!\tCours !\n", encoding="utf-8")
    params = write_params(tmp_path / "p.yaml")
    proc = stage("prepare", "--raw", str(tmp_path / "raw.txt"), "--pairs", str(tmp_path / "pairs.tsv"),
                 "--extra", str(tmp_path / "extra.tsv"), "--meta", str(tmp_path / "text.json"),
                 "--stats", str(tmp_path / "stats.json"), params=params)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "prepare.max_length" in err and "prepare.eng_prefixes" in err
    assert not list(tmp_path.glob("*.tsv")) and "Traceback" not in err


@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"),
                                                (signal.SIGTERM, 143, "terminated")])
def test_interrupted_or_terminated_training_writes_nothing(tmp_path, signum, code, word):
    write_pairs(tmp_path / "train.tsv", PAIRS * 4)
    Vocab.build(s for s, _ in PAIRS).save(tmp_path / "vocab" / "source.txt")
    Vocab.build(t for _, t in PAIRS).save(tmp_path / "vocab" / "target.txt")
    write_json(tmp_path / "text.json", {"direction": "fra-eng", "max_length": 10, "keep_accents": False,
                                         "keep_apostrophes": False})
    params = write_params(tmp_path / "p.yaml", train__epochs=1000, train__batch_size=2)
    write_pairs(tmp_path / "extra.tsv", [])
    proc = stage("train", "--train", str(tmp_path / "train.tsv"), "--extra", str(tmp_path / "extra.tsv"),
                 "--vocab", str(tmp_path / "vocab"),
                 "--text", str(tmp_path / "text.json"),
                 "--model", str(tmp_path / "out" / "model.pt"), "--history", str(tmp_path / "out" / "history.tsv"),
                 "--metrics", str(tmp_path / "out" / "train.json"),
                 "--live-metrics", str(tmp_path / "out" / "live" / "metrics.json"),
                 "--live-plots", str(tmp_path / "out" / "live" / "plots"),
                 params=params, cwd=tmp_path)  # outside this repository, dvclive leaves it alone
    for line in proc.stderr:  # wait until training is under way: the first epoch's log line
        if "epoch 1/1000: train loss" in line:
            break
    live = tmp_path / "out" / "live" / "metrics.json"
    deadline = time.monotonic() + 30
    while not live.is_file() and time.monotonic() < deadline:  # dvclive logs the epoch just after
        time.sleep(0.05)
    assert live.is_file()  # dvclive wrote the epoch
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"error: {word};" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_bad_thread_count_names_the_variable(tmp_path):
    # The stage reads SEQ2SEQ_THREADS before anything else; test_device.py tries more values.
    proc = stage("evaluate", "--model", "m", "--test", "t", "--metrics", "m", "--samples", "s", "--translations", "x",
                 "--signatures", "s", "--report", "r", "--attention", "a", params=write_params(tmp_path / "p.yaml"),
                 env={"SEQ2SEQ_THREADS": "two"})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip() == ("error: SEQ2SEQ_THREADS='two' is not a thread count: set it to an integer >= 0 (0: "
                           "torch's default, as many as cores) or unset it to use the threads value in params.yaml.")


def test_a_tied_source_embedding_trains_on_a_joint_vocabulary_and_refuses_two(tmp_path):
    from seq2seq.checkpoint import load_checkpoint
    from seq2seq.data.vocab import build_vocabs

    write_pairs(tmp_path / "train.tsv", PAIRS)
    write_pairs(tmp_path / "extra.tsv", [])
    write_json(tmp_path / "text.json", {"direction": "fra-eng", "max_length": 10, "keep_accents": False,
                                         "keep_apostrophes": False})
    params = write_params(tmp_path / "p.yaml", train__epochs=1, train__batch_size=16, encoder__tie_embeddings=True)
    out = tmp_path / "out"

    def train(vocab: str) -> subprocess.Popen:
        return stage("train", "--train", str(tmp_path / "train.tsv"), "--extra", str(tmp_path / "extra.tsv"),
                     "--vocab", str(tmp_path / vocab),
                     "--text", str(tmp_path / "text.json"), "--model", str(out / "model.pt"),
                     "--history", str(out / "history.tsv"), "--metrics", str(out / "train.json"),
                     "--live-metrics", str(out / "live" / "metrics.json"), "--live-plots", str(out / "live" / "plots"),
                     params=params, cwd=tmp_path)

    build_vocabs(tmp_path / "train.tsv", tmp_path / "two", "word")
    proc = train("two")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err
    assert "holds two vocabularies (16 source and 16 target tokens): set vocab.joint=true" in err
    assert not (out / "model.pt").exists()
    build_vocabs(tmp_path / "train.tsv", tmp_path / "joint", "word", joint=True)
    proc = train("joint")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    model = load_checkpoint(out / "model.pt").model
    assert model.encoder.embedding.weight is model.decoder.embedding.weight
    # 4 specials, ". je suis et i am and", and the words both sides spell alike, once.
    assert model.decoder.embedding.num_embeddings == 4 + 7 + len(WORDS)
