"""The command-line commands, one module each; :mod:`seqscore.cli` groups them.

Commands stay thin: parse the options, call the library, render the result.
"""
