"""`rag serve` before the app starts: port choice and refusals (the running app is in test_web.py)."""

from __future__ import annotations

import logging
import socket

import pytest

from rag import cli
from rag.errors import ConfigError
from rag.ui import server


def _occupy(port: int) -> socket.socket | None:
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None  # already taken by someone else, which serves the test as well
    sock.listen()
    return sock


def test_default_port_moves_on_when_taken_and_says_so(caplog) -> None:
    holder = _occupy(server.DEFAULT_PORT)
    try:
        with caplog.at_level(logging.WARNING, logger="rag.serve"):
            port = server._choose_port("127.0.0.1", None)
        assert port != server.DEFAULT_PORT
        assert f"port {server.DEFAULT_PORT} is taken; using port {port}" in caplog.text
    finally:
        if holder:
            holder.close()


def test_a_taken_port_asked_for_is_a_clear_error(capsys) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is taken"):
            server._choose_port("127.0.0.1", port)
        code = cli.main(["serve", "--port", str(port), "--no-browser"])
        err = capsys.readouterr().err
        assert code == 2 and err.strip().splitlines()[-1].startswith(f"rag: port {port}")
    finally:
        holder.close()


def test_loopback_is_recognised() -> None:
    assert server._is_loopback("127.0.0.1") and server._is_loopback("::1") and server._is_loopback("localhost")
    assert not server._is_loopback("0.0.0.0") and not server._is_loopback("192.168.1.5")


def test_serving_beyond_this_machine_warns_before_anything_starts(caplog, capsys) -> None:
    holder = socket.socket()
    holder.bind(("0.0.0.0", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with caplog.at_level(logging.WARNING, logger="rag.serve"):
            assert cli.main(["serve", "--host", "0.0.0.0", "--port", str(port), "--no-browser"]) == 2
        assert "serving on 0.0.0.0: anyone who can reach this machine can ask questions" in caplog.text
    finally:
        holder.close()


def test_auth_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("RAG_SERVE_AUTH", raising=False)
    assert server.auth_from_env() is None
    monkeypatch.setenv("RAG_SERVE_AUTH", "reader:s3cret:with-colon")
    assert server.auth_from_env() == ("reader", "s3cret:with-colon")
    monkeypatch.setenv("RAG_SERVE_AUTH", "no-password")
    with pytest.raises(ConfigError, match="user:password"):
        server.auth_from_env()
