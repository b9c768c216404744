"""Corpus and byte-level tokenizer."""
