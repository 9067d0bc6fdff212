"""Training windows: question + passage tokenised into windows, labelled with the answer's tokens or [CLS];
and the order they are read in, batches of similar length."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.training.negatives import mine_negatives, parse_shares
from rag.training.settings import TrainSettings
from rag.training.squad import load_squad

# Length sorting groups this many batches' worth of shuffled windows, sorts each group by length and
# cuts it into batches: similar lengths in a batch, yet every epoch mixes the data anew.
_BATCHES_PER_LENGTH_GROUP = 50


@dataclass(slots=True)
class Features:
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    start: list[int]
    end: list[int]
    negatives: dict[str, int]

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def build_features(settings: TrainSettings, tokenizer: Any) -> Features:
    """Tokenised training windows with start/end labels; negatives labelled [CLS] (index 0)."""
    examples = load_squad(Path(settings.train), settings.limit or None)
    pairs = [(e.question, e.context, e.answer_start, e.answers[0]) for e in examples]
    negatives = mine_negatives(examples, parse_shares(settings.negatives), settings.seed)
    pairs += [(n.question, n.context, -1, "") for n in negatives]
    counts: dict[str, int] = {}
    for n in negatives:
        counts[n.kind] = counts.get(n.kind, 0) + 1
    features = Features([], [], [], [], counts)
    chunk = 2000
    for i in range(0, len(pairs), chunk):
        part = pairs[i : i + chunk]
        enc = tokenizer(
            [p[0] for p in part], [p[1] for p in part], truncation="only_second", max_length=settings.max_length,
            stride=settings.stride, return_overflowing_tokens=True, return_offsets_mapping=True,
        )
        for w, row in enumerate(enc["overflow_to_sample_mapping"]):
            _question, _context, answer_start, answer = part[row]
            start, end = label_window(enc.sequence_ids(w), enc["offset_mapping"][w], answer_start, answer_start + len(answer))
            features.input_ids.append(enc["input_ids"][w])
            features.token_type_ids.append(enc["token_type_ids"][w] if "token_type_ids" in enc else [0] * len(enc["input_ids"][w]))
            features.start.append(start)
            features.end.append(end)
    return features


def label_window(sequence_ids: list[int | None], offsets: list[tuple[int, int]], char_start: int, char_end: int) -> tuple[int, int]:
    if char_start < 0:
        return 0, 0
    context = [i for i, s in enumerate(sequence_ids) if s == 1]
    if offsets[context[0]][0] > char_start or offsets[context[-1]][1] < char_end:
        return 0, 0  # the answer is not (wholly) in this window
    start = next(i for i in context if offsets[i][1] > char_start)
    end = next(i for i in reversed(context) if offsets[i][0] < char_end)
    return start, end


def epoch_order(lengths: list[int], settings: TrainSettings, needed: int) -> list[int]:
    """Row order, epoch after epoch, long enough for the whole run: shuffled, and with
    ``length_sorted`` arranged so that each batch holds windows of similar length."""
    rng = np.random.default_rng(settings.seed)
    n, size = len(lengths), settings.batch_size
    group = size * _BATCHES_PER_LENGTH_GROUP
    order: list[int] = []
    while len(order) < needed:
        epoch = rng.permutation(n).tolist()
        if settings.length_sorted:
            batches = []
            for g in range(0, n, group):
                rows = sorted(epoch[g : g + group], key=lambda r: lengths[r])
                batches += [rows[b : b + size] for b in range(0, len(rows), size)]
            epoch = [r for b in rng.permutation(len(batches)).tolist() for r in batches[b]]
        order.extend(epoch)
    return order
