"""The screenshots in docs/ are rewritten only when the page looks different."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

from tests.helpers import save_if_changed


def _png(box: tuple[int, int, int, int] | None = None, caret: bool = False) -> bytes:
    image = Image.new("RGB", (400, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 20), "Seoul [1] [2]", fill="black")
    if box:
        draw.rectangle(box, fill="orange")
    if caret:
        draw.line((200, 100, 200, 112), fill="black")  # a text caret, blinking: 13 pixels
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_an_unchanged_page_leaves_the_file_alone_and_a_changed_one_is_written(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "chat.png"
    assert save_if_changed(_png(), path)  # no file yet
    written = path.read_bytes()
    assert not save_if_changed(_png(caret=True), path)  # a caret's blink is not a change
    assert path.read_bytes() == written
    assert save_if_changed(_png(box=(50, 150, 350, 250)), path)  # a new card is
    assert path.read_bytes() != written and not list(path.parent.glob("*.tmp"))
