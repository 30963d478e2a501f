"""Shared fixtures: small real-looking pair files and archives built on the fly (never the real data)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

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


# Tiny test models keep the original architecture and plain training unless a test says otherwise:
# the defaults (bidirectional, input feeding, tied embeddings, label smoothing, word dropout) are
# each tested on their own, and memorising a few pairs exactly needs no regularisation.
PLAIN_ENC = {"bidirectional": False}
PLAIN_DEC = {"input_feeding": False, "tie_embeddings": False}
PLAIN_TRAIN = {"label_smoothing": 0.0, "word_dropout": 0.0, "patience": 0}
