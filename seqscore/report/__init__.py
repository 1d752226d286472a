"""The report floor: between the library's results and the commands.

Results are frozen dataclasses that know nothing of output; this package
turns them into records, columns and text, and writes them:

* :mod:`.writers` -- records as table, json, jsonl or csv, written
  atomically (``-o FILE`` appears only when complete);
* :mod:`.parquet` -- score records as Parquet parts (``seqscore[parquet]``);
* :mod:`.html` and :mod:`.pages` -- ``--format html``: one self-contained
  page of ``score``, ``compare``, ``diagnose`` or ``evaluate``
  (``seqscore[html]``; the layout in ``templates/``);
* :mod:`.scores` -- the score record: its schema, values and table columns;
* :mod:`.comparison` -- why a prompt's winner wins, in words;
* :mod:`.diagnosis` and :mod:`.plots` -- greedy against best, and a survey;
* :mod:`.audit` -- an audit report;
* :mod:`.laws` -- a scorer's law report (``seqscore audit-fn``);
* :mod:`.rejects` -- a rejected record as a message or a rejects file's
  record, with the caller's words for its remedy;
* :mod:`.evaluation` and :mod:`.run_comparison` -- an lm-eval run checked,
  and two runs compared;
* :mod:`.ranking` -- Plackett-Luce probabilities, samples and fitted worths;
* :mod:`.perplexity` and :mod:`.softmax` -- documents' perplexities, and a
  few logits' probabilities.

A command parses its options, calls a reader and the library, and hands the
results to a module here.
"""
