"""Shared fixtures: small real-looking pair files and archives built on the fly (never the real data)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from seq2seq.bench.serving import start
from seq2seq.config import DecoderConfig, EncoderConfig, TrainConfig
from seq2seq.data.batching import encode_pairs
from seq2seq.data.vocab import Vocab
from seq2seq.model.factory import build_model
from seq2seq.model.seq2seq import Seq2Seq
from seq2seq.training.loop import train_epoch
from seq2seq.training.optim import make_optimizer

REPO = Path(__file__).resolve().parents[1]

# English<TAB>French lines in the manythings shape, a few with the newer third attribution column.
RAW_LINES = [
    "I am cold.\tJ'ai froid.",
    "I am cold.\tJ'ai froid !",
    "I'm hungry!\tJ'ai faim !",
    "He is tall.\tIl est grand.",
    "He's a teacher.\tIl est enseignant.\tCC-BY 2.0 (France) Attribution: tatoeba.org",
    "She is happy.\tElle est heureuse.",
    "She's my sister.\tC'est ma sœur.",
    "You are late.\tTu es en retard.",
    "You're right.\tVous avez raison.\tCC-BY 2.0 (France) Attribution: tatoeba.org",
    "We are friends.\tNous sommes amis.",
    "We're ready.\tNous sommes prêts.",
    "They are here.\tIls sont là.",
    "They're students.\tElles sont étudiantes.",
    "I am a doctor.\tJe suis médecin.",
    "He is my brother.\tC'est mon frère.",
    "You are kind.\tTu es gentil.",
    "Go.\tVa !",
    "Run!\tCours !",
]


def make_zip(path: Path, lines: list[str] = RAW_LINES, member: str = "fra.txt") -> str:
    """Write a manythings-style zip holding `lines`; return its sha256."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, "\n".join(lines) + "\n")
        zf.writestr("_about.txt", "test archive\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[Path, str]:
    """An offline mirror folder holding fra-eng.zip built from RAW_LINES, and its checksum."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    return folder, make_zip(folder / "fra-eng.zip")


def write_params(path: Path, **changes) -> Path:
    """params.yaml with `section__key=value` changes, written to `path`."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for key, value in changes.items():
        section, name = key.split("__")
        params[section][name] = value
    path.write_text(yaml.safe_dump(params))
    return path


# Tiny test models keep the original architecture and plain training unless a test says otherwise:
# the defaults (bidirectional, input feeding, tied embeddings, label smoothing, word dropout, the
# weight average) are each tested on their own, and memorising a few pairs exactly needs no
# regularisation.
PLAIN_ENC = {"bidirectional": False}
PLAIN_DEC = {"input_feeding": False, "tie_embeddings": False}
PLAIN_TRAIN = {"label_smoothing": 0.0, "word_dropout": 0.0, "patience": 0, "ema_decay": 0.0}

# Six short pairs a tiny model learns by heart, and their word vocabularies.
PAIRS = [("je suis froid .", "i am cold ."), ("tu es grand .", "you are tall ."),
         ("il est heureux .", "he is happy ."), ("nous sommes amis .", "we are friends ."),
         ("elle est ma soeur .", "she is my sister ."), ("je suis medecin .", "i am a doctor .")]
SOURCE = Vocab.build(s for s, _ in PAIRS)
TARGET = Vocab.build(t for _, t in PAIRS)
# PAIRS encoded, and the tiny plain model's settings (16/32 units, no dropout) for the training tests.
EXAMPLES = encode_pairs(PAIRS, SOURCE, TARGET)
TINY_ENC = EncoderConfig(embedding_size=16, hidden_size=32, dropout=0.0, **PLAIN_ENC)
TINY_DEC = DecoderConfig(embedding_size=16, hidden_size=32, dropout=0.0, **PLAIN_DEC)


def overfit(pairs=PAIRS, source: Vocab = SOURCE, target: Vocab = TARGET, epochs: int = 150,
            enc: dict | None = None, dec: dict | None = None) -> tuple[Seq2Seq, float]:
    """A tiny model (16/32 units, no dropout, plain architecture unless `enc`/`dec` say otherwise)
    trained on `pairs` in one batch until it knows them by heart; it and its last training loss."""
    torch.manual_seed(0)
    encoder = EncoderConfig(**{"embedding_size": 16, "hidden_size": 32, "dropout": 0.0, **PLAIN_ENC, **(enc or {})})
    decoder = DecoderConfig(**{"embedding_size": 16, "hidden_size": 32, "dropout": 0.0, **PLAIN_DEC, **(dec or {})})
    examples = encode_pairs(pairs, source, target)
    cfg = TrainConfig(epochs=1, batch_size=len(examples), learning_rate=0.01, **PLAIN_TRAIN)
    model = build_model(encoder, decoder, len(source), len(target))
    optimizer, gen = make_optimizer(model, cfg), torch.Generator().manual_seed(0)
    for _ in range(epochs):
        loss = train_epoch(model, examples, cfg, optimizer, generator=gen, device=torch.device("cpu"), desc="overfit",
                           progress=False)
    return model, loss


def pipeline_file(path: str) -> Path | None:
    """The pipeline's output `path` (e.g. models/model.pt) when this checkout has it as dvc.lock
    records it, after `make repro`; else None (a fresh clone: DVC keeps it in its cache, not in git)."""
    lock = yaml.safe_load((REPO / "dvc.lock").read_text())
    recorded = {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}
    file = REPO / path
    if not file.exists() or hashlib.md5(file.read_bytes()).hexdigest() != recorded[path]:
        return None
    return file


@pytest.fixture(scope="session")
def served_checkpoint(tmp_path_factory) -> Path:
    """The tiny model with general attention trained on PAIRS, saved as the train stage saves it
    (training words included): what the server tests serve."""
    from seq2seq.checkpoint import save_checkpoint

    model, _ = overfit(dec={"attention": "general"})
    path = tmp_path_factory.mktemp("served") / "model.pt"
    text = {"direction": "fra-eng", "max_length": 6, "keep_accents": False, "keep_apostrophes": False,
            "eng_prefixes": ["i am ", "he is"]}
    save_checkpoint(path, model, SOURCE, TARGET, text, sorted({w for s, _ in PAIRS for w in s.split()}))
    return path


# The `seq2seq` command of this interpreter's environment, whatever the PATH.
SEQ2SEQ = (sys.executable, "-m", "seq2seq")


def seq2seq_cli(*args: str, stdin: str | bytes | None = None, text: bool = False, cwd: Path | None = None,
                check: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """`seq2seq ARGS` run to its end, stdout and stderr captured: as str when `text` is true or
    `stdin` is a str, else as bytes. `stdin` is what it reads (none: an empty input, never the
    terminal); `check` raises when it fails, as subprocess.run does."""
    feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
    return subprocess.run([*SEQ2SEQ, *args], capture_output=True, text=text or isinstance(stdin, str), cwd=cwd,
                          check=check, timeout=timeout, **feed)


def start_server(*args: str, cwd: Path | None = None) -> tuple[subprocess.Popen, str, list[str]]:
    """`seq2seq serve --port 0 ARGS` started (`seq2seq.bench.serving.start`): the process, its base
    URL and its stderr lines, which keep coming."""
    return start(args, cwd=cwd)


# End-to-end helpers: the real pipeline in a temporary git repository on a tiny config.
BIN = Path(sys.executable).parent
TINY = {
    "prepare": {"eng_prefixes": [], "max_length": 10},
    "encoder": {"embedding_size": 8, "hidden_size": 8},
    "decoder": {"embedding_size": 8, "hidden_size": 8},
    "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.2},
    "evaluate": {"num_samples": 3},
}


def sh(repo: Path, env: dict, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    if ok and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def ran(result: subprocess.CompletedProcess) -> set[str]:
    return set(re.findall(r"Running stage '(\w+)'", result.stdout + result.stderr))


def set_params(repo: Path, changes: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture
def repo(tmp_path: Path, mirror) -> tuple[Path, dict]:
    """A git repository holding the project's files (as in the working tree) on a tiny config."""
    folder, sha = mirror
    repo = tmp_path / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file() and not name.startswith(("results/", "tests/")) and name != "dvc.lock":
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, repo / name)
    set_params(repo, {**TINY, "download": {"sha256": sha}})
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "SEQ2SEQ_DATA_DIR": str(folder),
           "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("SEQ2SEQ_DEBUG", None)
    sh(repo, env, "git", "init", "-q", "-b", "main")
    # DVC's own git client may not read the GIT_* variables: configure the repository itself too.
    sh(repo, env, "git", "config", "user.name", "seq2seq tests")
    sh(repo, env, "git", "config", "user.email", "tests@seq2seq.invalid")
    sh(repo, env, "git", "add", "-A")
    sh(repo, env, "git", "commit", "-qm", "tiny")
    return repo, env
