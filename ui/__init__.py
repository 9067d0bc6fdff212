"""The web chat over rag's public API (the Gradio app arrives with the web chat issue)."""
