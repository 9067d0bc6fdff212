"""Measuring rag: gold questions in, scores out (`rag eval`).

The modules here are the eval suite a user runs; the benchmarks and tuning that write docs/ are the
sub-package ``rag.eval.bench``, which nothing here imports.
"""
