"""Measuring rag: gold questions in, scores out (`rag eval`)."""
