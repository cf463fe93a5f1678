"""The editors' page completes added tags from a vocabulary, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser_page
from tests.server.test_editor_page import TOKEN

VOCAB_CSV = """id,label,aliases,broader,retired,replaced_by
desk:world,world,,,,
desk:pc,Panama Canal,canal|the canal,desk:world,,
desk:cz,Canal Zone,,desk:world,1999-12-31,desk:pc
"""


@pytest.fixture
def vocab_server(
    live_server: Any, tiny_model: Path, loaded_tiny: Any, tmp_path: Path
) -> Iterator[Any]:
    """A second live server like `live_server`, with a vocabulary to complete from."""
    from tagger.server.app import ServerConfig, create_app
    from tagger.vocab.importers import read_vocabulary_files
    from tagger.vocab.store import write_vocabulary

    csv = tmp_path / "desk.csv"
    csv.write_text(VOCAB_CSV, encoding="utf-8")
    vocab = tmp_path / "desk.vocab"
    write_vocabulary(read_vocabulary_files([csv]), vocab)
    config = ServerConfig(
        model=tiny_model, db=tmp_path / "vocab-fb.db", tokens={TOKEN: "ann"}, vocab=vocab
    )
    app = create_app(config, model=loaded_tiny)
    with type(live_server)(app) as server:
        server.app_store = app.state.store
        yield server
    app.state.store.close()


def test_added_tags_complete_from_the_vocabulary(vocab_server: Any) -> None:
    with browser_page() as page:
        from playwright.sync_api import expect  # after the skip without a browser

        page.route(
            "**/suggest",
            lambda route: route.fulfill(
                json=route.fetch(
                    post_data=route.request.post_data.replace('"entities":true', '"entities":false')
                ).json()
            ),
        )
        page.goto(vocab_server.url + "/")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")
        expect(page.locator("#whoami")).to_have_text("signed in as ann")
        page.fill("#title", "Rubio visits Panama")
        page.fill("#body", "Secretary of State Marco Rubio visited Panama on Monday.")
        page.click("#suggest")
        expect(page.locator("#tags .chip").first).to_be_visible()
        # typing an alias offers the concept's preferred label, with id and parent
        page.locator("#add-tag").press_sequentially("the can")
        option = page.locator('#tag-vocab option[value="Panama Canal"]')
        expect(option).to_have_attribute("label", "desk:pc · in world")
        expect(page.locator("#tag-vocab option")).to_have_count(1)
        # never a retired concept ('Canal Zone')
        page.fill("#add-tag", "")
        page.locator("#add-tag").press_sequentially("canal z")
        expect(page.locator("#tag-vocab option")).to_have_count(0)
        page.fill("#add-tag", "")
        page.locator("#add-tag").press_sequentially("Panama Canal")
        expect(page.locator("#tag-concept")).to_have_text("desk:pc · in world")
        page.keyboard.press("Enter")
        added = page.locator('#tags .chip[data-label="Panama Canal"]')
        expect(added).to_have_attribute("data-state", "added")
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_contain_text("Saved 1 decision(s)")
    stored = [d for d in vocab_server.app_store.decisions() if d.action == "add"]
    assert [(d.label, d.concept_id) for d in stored] == [("Panama Canal", "desk:pc")]
