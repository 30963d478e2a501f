"""`python -m seq2seq` hands on to the command-line interface."""

from seq2seq.cli import main

main()
