"""Training rag's extractive reader (PyTorch), kept beside the reader it trains.

    python -m rag.training.train --train ../shared/data/squad/train-v1.1.json --out runs/reader
    python -m rag.training.train --status --out runs/reader
    python -m rag.training.ablation ...      # what each kind of negative adds

Modules: ``train`` (the command and the loop), ``settings`` (what decides the model), ``features``
(windows, labels, batch order), ``negatives`` (the "not here" examples), ``checkpoints`` (resume,
the finished model), ``progress`` (dev scores, progress.json, --status).
"""
