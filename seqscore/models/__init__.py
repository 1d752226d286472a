"""Language models that implement :class:`seqscore.decoding.LanguageModel`.

* :mod:`seqscore.models.tree` -- a "logit tree" read from JSON, to reproduce a
  textbook case exactly;
* :mod:`seqscore.models.builtin` -- a small word-level softmax-regression model
  trained on the English text that ships with CPython (no download);
* :mod:`seqscore.models.hf` -- any Hugging Face causal LM and its tokenizer
  (the optional extra ``seqscore[hf]``).
"""
