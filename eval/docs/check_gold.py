#!/usr/bin/env python3
"""Check eval/docs/gold.jsonl against the rendered manual pages in corpus/.

Standard library only.  Usage (from anywhere):

    python3 eval/docs/check_gold.py [gold.jsonl] [corpus_dir]

Verifies that every line parses and has exactly the expected keys, that ids
are unique, that splits are "dev" or "test", that every answer is an exact
substring of at least one listed document (answerable questions) or that
unanswerable questions have no answers and no documents, and that all the
questions about a document share that document's split.  Prints counts per
split and kind.  Exits non-zero on any problem.
"""
import json
import os
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = {"id", "question", "answers", "doc_ids", "kind", "split"}
KINDS = {"answerable", "near_miss", "outside"}
SPLITS = {"dev", "test"}


def main(argv):
    gold_path = argv[1] if len(argv) > 1 else os.path.join(HERE, "gold.jsonl")
    corpus_dir = argv[2] if len(argv) > 2 else os.path.join(HERE, "corpus")
    docs = {}
    for name in sorted(os.listdir(corpus_dir)):
        if name.endswith(".txt"):
            with open(os.path.join(corpus_dir, name), encoding="utf-8") as f:
                docs[name] = f.read()
    errors = []
    ids = set()
    doc_split = {}
    counts = Counter()
    per_doc = defaultdict(Counter)
    questions = set()
    with open(gold_path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        where = f"line {n}"
        if not line.strip():
            errors.append(f"{where}: empty line")
            continue
        try:
            q = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: bad JSON: {e}")
            continue
        if not isinstance(q, dict) or set(q) != KEYS:
            errors.append(f"{where}: keys must be exactly {sorted(KEYS)}")
            continue
        qid = q["id"]
        where = f"line {n} ({qid})"
        if not isinstance(qid, str) or not qid:
            errors.append(f"{where}: id must be a non-empty string")
        elif qid in ids:
            errors.append(f"{where}: duplicate id")
        ids.add(qid)
        if not isinstance(q["question"], str) or not q["question"].strip():
            errors.append(f"{where}: empty question")
        elif q["question"].strip().lower() in questions:
            errors.append(f"{where}: duplicate question text")
        else:
            questions.add(q["question"].strip().lower())
        if q["split"] not in SPLITS:
            errors.append(f"{where}: split must be dev or test")
        if q["kind"] not in KINDS:
            errors.append(f"{where}: kind must be one of {sorted(KINDS)}")
        answers, doc_ids = q["answers"], q["doc_ids"]
        if not isinstance(answers, list) or not all(
                isinstance(a, str) and a for a in answers):
            errors.append(f"{where}: answers must be a list of non-empty strings")
            continue
        if not isinstance(doc_ids, list) or not all(
                isinstance(d, str) for d in doc_ids):
            errors.append(f"{where}: doc_ids must be a list of strings")
            continue
        if len(set(answers)) != len(answers):
            errors.append(f"{where}: repeated answer variant")
        if q["kind"] == "answerable":
            if not answers or not doc_ids:
                errors.append(f"{where}: answerable needs answers and doc_ids")
            for d in doc_ids:
                if d not in docs:
                    errors.append(f"{where}: unknown document {d}")
            for a in answers:
                if not any(a in docs.get(d, "") for d in doc_ids):
                    errors.append(f"{where}: answer not in listed docs: {a!r}")
            for d in doc_ids:
                if d in docs and not any(a in docs[d] for a in answers):
                    errors.append(f"{where}: no answer variant occurs in {d}")
        else:
            if answers or doc_ids:
                errors.append(f"{where}: unanswerable must have empty answers/doc_ids")
        for d in doc_ids:
            per_doc[d][q["kind"]] += 1
            if d in doc_split and doc_split[d] != q["split"]:
                errors.append(f"{where}: {d} is {doc_split[d]} elsewhere")
            doc_split.setdefault(d, q["split"])
        counts[(q["split"], q["kind"])] += 1

    print(f"{len(lines)} questions, {len(docs)} documents")
    for split in sorted(SPLITS):
        row = ", ".join(f"{k} {counts[(split, k)]}" for k in sorted(KINDS))
        ans = counts[(split, "answerable")]
        una = counts[(split, "near_miss")] + counts[(split, "outside")]
        print(f"{split}: {row}  (answerable {ans}, unanswerable {una})")
    for d in sorted(docs):
        c = per_doc.get(d, Counter())
        print(f"  {d:12} {doc_split.get(d, '-'):4}  answerable {c['answerable']}")
    if errors:
        for error in errors:
            print("ERROR:", error, file=sys.stderr)
        print(f"{len(errors)} error(s)", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
