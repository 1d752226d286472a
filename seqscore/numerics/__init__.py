"""The numerics floor: exact log-space arithmetic that every layer above uses.

* :mod:`~seqscore.numerics.softmax` -- logsumexp, softmax, log-softmax,
  cross-entropy (the normaliser itself: :mod:`~seqscore.numerics._normaliser`);
* :mod:`~seqscore.numerics.kernels` -- the token kernel: a target's log-prob,
  rank, argmax, entropy and top-k from a logits row;
* :mod:`~seqscore.numerics.shift` -- which logits rows score which tokens;
* :mod:`~seqscore.numerics.totals` -- a sequence's total (one sum rule);
* :mod:`~seqscore.numerics.clamp` -- log-probs that round above zero;
* :mod:`~seqscore.numerics.reductions` -- mean, per char/byte, length
  penalties, perplexity, bits per byte, PMI;
* :mod:`~seqscore.numerics.first_choice` -- first-choice probabilities of
  totals (Plackett-Luce's first stage, a softmax);
* :mod:`~seqscore.numerics.regression` -- a trainable softmax layer;
* :mod:`~seqscore.numerics.parallel` -- thread spans and ordered process maps;
  ``_arrays`` (argument checks) and ``_pages`` (memory given back).

Nothing here imports another seqscore package except :mod:`seqscore.errors`.
"""
