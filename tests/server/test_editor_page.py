"""The editors' web page in a real headless Chromium (Playwright with Debian's chromium)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.browser import browser_page

TOKEN = "ann-token-0123456789abcdef"
ARTICLE_TITLE = "Senate passes spending bill to avert shutdown"
ARTICLE_BODY = (
    "The Senate passed a stopgap spending bill on Friday, sending it to the House as "
    "lawmakers raced to avoid a government shutdown over the federal budget. Speaker "
    "Mike Johnson said the House would vote on Saturday."
)

ENTITIES = [
    {"name": "Mike Johnson", "type": "PERSON", "count": 1, "salience": 0.61},
    {"name": "Senate", "type": "ORG", "count": 1, "salience": 0.42},
    {"name": "House", "type": "ORG", "count": 2, "salience": 0.40},
]


def test_accept_reject_add_and_save_in_the_browser(live_server, tmp_path: Path) -> None:
    with browser_page() as page:
        from playwright.sync_api import expect  # after the skip without a browser

        # the content security policy must not block anything the page needs
        blocked = []
        page.on(
            "console",
            lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None,
        )
        # The page asks for entities (spaCy on the server: tested in test_server_api);
        # here fixed ones, so the test checks the page and stays fast.
        asked = []
        answered = []

        def with_entities(route) -> None:
            request = route.request.post_data_json
            asked.append(request.get("entities"))
            data = route.fetch(post_data=json.dumps({**request, "entities": False})).json()
            data["suggestions"][0]["entities"] = ENTITIES
            answered.append(data["suggestions"][0])
            route.fulfill(json=data)

        page.route("**/suggest", with_entities)
        page.goto(live_server.url + "/")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")
        expect(page.locator("#whoami")).to_have_text("signed in as ann")

        # load the article from a file, as an editor would
        article = tmp_path / "article.txt"
        article.write_text(f"{ARTICLE_TITLE}\n\n{ARTICLE_BODY}\n")
        page.set_input_files("#file", str(article))
        expect(page.locator("#title")).to_have_value(ARTICLE_TITLE)
        page.click("#suggest")
        chips = page.locator("#tags .chip")
        expect(chips.first).to_be_visible()
        assert chips.count() >= 2
        expect(page.locator("#sections .chip").first).to_contain_text("%")
        assert asked == [True]
        # entities as small chips with their type, most salient first
        expect(page.locator("#entities .entity").first).to_contain_text("Mike Johnson")
        assert page.locator("#entities .entity .type").all_inner_texts()[:2] == [
            "PERSON",
            "ORG",
        ]
        # only section candidates with a real score (the top one always)
        scores = page.locator("#sections .chip .score").all_inner_texts()
        assert scores and all(int(t.rstrip("%")) >= 5 for t in scores[1:])
        # a section can be rejected as well as chosen
        expect(page.locator("#sections .chip").first.locator("button.reject")).to_have_count(1)
        first = chips.nth(0).get_attribute("data-label")
        second = chips.nth(1).get_attribute("data-label")

        # accept the first with the mouse, reject the second with the keyboard
        chips.nth(0).locator("button.accept").click()
        expect(page.locator(f'#tags .chip[data-label="{first}"]')).to_have_attribute(
            "data-state", "accepted"
        )
        page.locator(f'#tags .chip[data-label="{second}"]').focus()
        expect(page.locator("#evidence")).to_contain_text(second)
        # the page shows the evidence the table shows: each item with its contribution
        from tagger.suggestions import evidence_text

        shown = answered[0]["tags"] + answered[0]["tag_candidates"]
        item = next(t for t in shown if t["label"] == second)
        assert item["evidence"], "the candidate should come with evidence"
        expect(page.locator("#evidence")).to_have_text(
            f"{second}: {evidence_text(item['evidence'])}"
        )
        page.keyboard.press("r")
        expect(page.locator(f'#tags .chip[data-label="{second}"]')).to_have_attribute(
            "data-state", "rejected"
        )
        # add a tag from the vocabulary input, by keyboard
        page.keyboard.press("+")
        page.keyboard.type("shutdown watch")
        page.keyboard.press("Enter")
        added = page.locator('#tags .chip[data-label="shutdown watch"]')
        expect(added).to_have_attribute("data-state", "added")
        # an added tag is accepted already: it offers only a way out
        expect(added.locator("button.accept")).to_have_count(0)
        expect(added.locator("button.reject")).to_have_count(1)
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_contain_text("Saved 3 decision(s)")
        # a second save with nothing new posts nothing
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_have_text("nothing new to save")
        # then reject the suggested section: only that one decision is sent, once
        page.locator("#sections .chip").first.focus()
        page.keyboard.press("r")
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_contain_text("Saved 1 decision(s)")
        page.keyboard.press("Control+s")
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_have_text("nothing new to save")
        section = page.locator("#sections .chip").first.get_attribute("data-label")
        # taking back a saved decision posts an undo, once
        page.locator(f'#tags .chip[data-label="{first}"]').focus()
        page.keyboard.press("u")
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_contain_text("Saved 1 decision(s)")
        page.keyboard.press("Control+s")
        expect(page.locator("#status")).to_have_text("nothing new to save")
        assert page.request.get(live_server.url + "/favicon.ico").ok
        page.goto(live_server.url + "/docs")
        expect(page.locator(".swagger-ui .title").first).to_contain_text("tagger")
        assert blocked == []

    import httpx

    assert httpx.get(live_server.url + "/health").json()["decisions"] == 5
    store = live_server.app_store
    decisions = store.decisions()
    assert sorted((d.editor, d.action, d.label) for d in decisions) == sorted(
        [
            ("ann", "accept", first),
            ("ann", "reject", second),
            ("ann", "add", "shutdown watch"),
            ("ann", "reject", section),
            ("ann", "undo", first),
        ]
    )
    assert all(d.suggestion_id for d in decisions if d.action not in ("add", "undo"))
    assert store.article(decisions[0].article_id).title == ARTICLE_TITLE
