"""`rag serve`: index the corpus (with progress), pick a port, and run the web chat."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket

from rag.config import Config
from rag.errors import ConfigError
from rag.pipeline import Pipeline

log = logging.getLogger("rag.serve")

DEFAULT_PORT = 7860
_PORTS_TRIED = 100


def serve(config: Config, host: str = "127.0.0.1", port: int | None = None, open_browser: bool = True) -> None:
    """Build or update the index (unless ``auto_update`` is off), load the models, then serve the chat
    until interrupted.

    Raises:
        ConfigError: ``port`` was given and is taken, or no port from 7860 on is free.
    """
    # Before gradio is imported: no telemetry, no version check over the network.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = auth_from_env()
    if not _is_loopback(host):
        log.warning(
            "serving on %s: anyone who can reach this machine can %s; see the README (Serving beyond this machine)",
            host, "log in with the RAG_SERVE_AUTH password" if auth else "ask questions and upload documents",
        )
    chosen = _choose_port(host, port)
    pipeline = Pipeline(config)
    if config.auto_update:
        log.info("indexing %s (first start embeds every document)…", config.corpus_dir)
    report = pipeline.open()  # auto_update = false: loaded as it is, nothing written (a replica)
    if report is not None:
        log.info("index ready: %d documents (%d passages embedded now)",
                 report.unchanged + len(report.added) + len(report.changed), report.passages_embedded)
    log.info("loading the models…")
    pipeline.warm_up()

    from .app import (  # gradio is slow to import; only `serve` needs it
        build_app,
        launch_options,
    )

    watcher = None
    if config.auto_update and config.watch_seconds > 0:  # a replica (auto_update = false) never writes
        from rag.watch import CorpusWatcher

        watcher = CorpusWatcher(pipeline, config.watch_seconds).start()
    app = build_app(pipeline, watcher)
    app.queue(default_concurrency_limit=1)
    log.info("serving the chat on http://%s:%d (Ctrl+C stops it)", host, chosen)
    app.launch(server_name=host, server_port=chosen, inbrowser=open_browser, quiet=True, auth=auth, **launch_options(pipeline))


def auth_from_env() -> tuple[str, str] | None:
    """``RAG_SERVE_AUTH=user:password`` turns on Gradio's login page (kept out of argv and shell history).

    Raises:
        ConfigError: The variable is set but not ``user:password``.
    """
    value = os.environ.get("RAG_SERVE_AUTH", "")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not (sep and user and password):
        raise ConfigError("RAG_SERVE_AUTH must be user:password")
    return user, password


def _choose_port(host: str, port: int | None) -> int:
    if port is not None:
        if not _is_free(host, port):
            raise ConfigError(f"port {port} on {host} is taken; pick another with --port, or leave it out")
        return port
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + _PORTS_TRIED):
        if _is_free(host, candidate):
            if candidate != DEFAULT_PORT:
                log.warning("port %d is taken; using port %d", DEFAULT_PORT, candidate)
            return candidate
    raise ConfigError(f"ports {DEFAULT_PORT}-{DEFAULT_PORT + _PORTS_TRIED - 1} are all taken; pick one with --port")


def _is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
