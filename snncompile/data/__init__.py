"""Corpora and tokenizers: the bundled byte-level corpus (`corpus`), tokenizers (`tokenizer`:
bytes or a Hugging Face tokenizer.json) and pre-tokenized corpora (`token_corpus`)."""
