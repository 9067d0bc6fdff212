"""Haystack 2.31's extractive question answering, run with rag's own embedder and reader (``pip install -e '.[bench]'``).

The configuration is Haystack's documented one for extractive QA with hybrid retrieval, not one
chosen to lose: ``DocumentSplitter`` by words (100 words, 20 shared), documents embedded with
``SentenceTransformersDocumentEmbedder``, ``InMemoryBM25Retriever`` and
``InMemoryEmbeddingRetriever`` (top 5 each) joined by ``DocumentJoiner`` with reciprocal rank
fusion (top 5), and ``ExtractiveReader`` with every default (windows of 384 tokens, stride 128,
``no_answer=True``, calibration factor 0.1). Two choices are ours, both in Haystack's favour: the
reader's weights are loaded in float32 (transformers 5 would load the float16 file as float16,
slower and less exact on a CPU), and the documents are rag's own extracted texts, so both systems
read the same characters. Haystack declines when its "no answer" is its top answer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.corpus import load_corpus
from rag.errors import RagError
from rag.eval.bench.qa_systems import Reply
from rag.model_paths import embedder_location, reader_location

SPLIT_WORDS, SPLIT_OVERLAP, TOP_K = 100, 20, 5


@dataclass(frozen=True, slots=True)
class HaystackSystem:
    name: str = "haystack"
    reader_model: str = ""  # "" = rag's shipped reader

    def open(self, corpus: Path, work: Path) -> Callable[[str], Reply]:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark process of its own: Haystack's loaders read it
        os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
        try:
            import torch
            from haystack import Document, Pipeline
            from haystack.components.embedders import SentenceTransformersDocumentEmbedder, SentenceTransformersTextEmbedder
            from haystack.components.joiners import DocumentJoiner
            from haystack.components.preprocessors import DocumentSplitter
            from haystack.components.readers import ExtractiveReader
            from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever
            from haystack.document_stores.in_memory import InMemoryDocumentStore
        except ImportError as err:
            raise RagError(f"the Haystack row needs haystack-ai 2.31 and accelerate: pip install -e '.[bench]' ({err})") from None
        embed_path = embedder_location("")[1]
        read_path = reader_location(self.reader_model)[1]
        store = InMemoryDocumentStore()
        documents = [Document(content=d.text, meta={"doc_id": d.doc_id}) for d in load_corpus(corpus)]
        splits = DocumentSplitter(split_by="word", split_length=SPLIT_WORDS, split_overlap=SPLIT_OVERLAP).run(documents)["documents"]
        doc_embedder = SentenceTransformersDocumentEmbedder(model=embed_path, progress_bar=False)
        doc_embedder.warm_up()
        store.write_documents(doc_embedder.run(splits)["documents"])

        pipeline = Pipeline()
        pipeline.add_component("text_embedder", SentenceTransformersTextEmbedder(model=embed_path, progress_bar=False))
        pipeline.add_component("dense", InMemoryEmbeddingRetriever(store, top_k=TOP_K))
        pipeline.add_component("bm25", InMemoryBM25Retriever(store, top_k=TOP_K))
        pipeline.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_K))
        pipeline.add_component("reader", ExtractiveReader(model=read_path, model_kwargs={"dtype": torch.float32}))
        pipeline.connect("text_embedder.embedding", "dense.query_embedding")
        pipeline.connect("dense", "joiner")
        pipeline.connect("bm25", "joiner")
        pipeline.connect("joiner", "reader")
        pipeline.warm_up()

        def answer(question: str) -> Reply:
            started = time.perf_counter()
            result = pipeline.run({"text_embedder": {"text": question}, "bm25": {"query": question},
                                   "reader": {"query": question}})
            seconds = time.perf_counter() - started
            answers = result["reader"]["answers"]
            best = next((a for a in answers if a.data), None)
            declined = not answers or answers[0].data is None
            doc = best.document.meta.get("doc_id") if best is not None and best.document is not None else None
            return Reply(best.data if best else None, doc, seconds, declined,
                         float(answers[0].score) if answers else 0.0)

        return answer
