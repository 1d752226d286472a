"""Input readers, one module per format (writers live in :mod:`seqscore.report`).

A reader turns a file into prompts, records or runs; its errors name the
file, the record and the field, and may name a remedy in library terms
(:class:`~seqscore.errors.SeqScoreError` ``remedy``) that the command line
turns into its flags.
"""
