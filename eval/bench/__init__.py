"""The lab: benchmarks, tuning and the tools that write docs/ (``python -m rag.eval.bench.<name>``).

Each module here measures rag (often beside a peer such as Haystack) on ../shared/ data and the
extras `bench` and `tune`; none of it is imported by the product (rag/, ui/, ``rag eval``) or
shipped in the wheel (tests/test_structure.py and tests/test_packaging.py say so).
"""
