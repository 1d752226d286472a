"""The runs floor: whole jobs over files and processes.

Shards, parts and manifests (:mod:`~seqscore.runs.shards`,
:mod:`~seqscore.runs.manifest`), resume, the local process pool and Dask
(:mod:`~seqscore.runs.schedulers`, :mod:`~seqscore.runs.dask_model`), model
workers (:mod:`~seqscore.runs.model_tasks`), scored records as output
(:mod:`~seqscore.runs.candidate_records`), and the file-level work of
``evaluate`` and ``compare-runs`` (:mod:`~seqscore.runs.lmeval_evaluate`,
:mod:`~seqscore.runs.lmeval_compare`). Readers and reports below it, the
commands above.
"""
