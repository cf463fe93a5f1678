"""The review queue on the editors' page, in a real headless Chromium: the page opens on the
next article, and the keyboard alone accepts, rejects, adds and moves on (no pasting)."""

from __future__ import annotations

from tests.browser import browser_page
from tests.server.test_editor_page import TOKEN


def test_the_page_opens_on_the_queue_and_works_it_by_keyboard(live_server, load_sample) -> None:
    from tagger.feedback.queue import ReviewQueue

    queue = ReviewQueue(live_server.app_store)
    articles = load_sample()[1::2][:2]
    for a in articles:
        a.tags, a.section = [], None
    queue.add(articles[:1], uncertainty=lambda _b: [0.9])  # reviewed first
    queue.add(articles[1:], uncertainty=lambda _b: [0.1])
    with browser_page() as page:
        from playwright.sync_api import expect  # after the skip without a browser

        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live_server.url + "/")
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")
        # the page opens on the most uncertain article, leased to ann
        expect(page.locator("#q-title")).to_have_text(articles[0].title)
        expect(page.locator("#input")).to_be_hidden()
        expect(page.locator("#queue-bar")).to_contain_text("1 waiting · 1 leased · 0 done")
        chips = page.locator("#tags .chip")
        expect(chips.first).to_be_focused()
        first = chips.nth(0).get_attribute("data-label")
        second = chips.nth(1).get_attribute("data-label")
        page.keyboard.press("a")  # accept the first
        state = "data-state"
        expect(page.locator(f'#tags .chip[data-label="{first}"]')).to_have_attribute(
            state, "accepted"
        )
        page.keyboard.press("ArrowRight")
        page.keyboard.press("r")  # reject the second
        expect(page.locator(f'#tags .chip[data-label="{second}"]')).to_have_attribute(
            state, "rejected"
        )
        page.keyboard.press("+")
        page.keyboard.type("queue tag")
        page.keyboard.press("Enter")  # add one
        expect(page.locator('#tags .chip[data-label="queue tag"]')).to_have_attribute(
            state, "added"
        )
        page.keyboard.press("Control+Enter")  # done: save and open the next
        expect(page.locator("#q-title")).to_have_text(articles[1].title)
        expect(page.locator("#queue-bar")).to_contain_text(
            "0 waiting · 1 leased · 1 done · ann: 1 done"
        )
        decided = {(d.action, d.label) for d in live_server.app_store.decisions(articles[0].id)}
        assert decided == {("accept", first), ("reject", second), ("add", "queue tag")}
        assert live_server.app_store.suggestions(articles[0].id)  # what was shown, kept
        rows = {r["article_id"]: r for r in queue.rows()}
        assert rows[articles[0].id]["done_by"] == "ann"
        assert rows[articles[1].id]["lease_editor"] == "ann"
        # skip the second: it goes back, and nothing else waits for ann
        page.locator("#tags .chip").first.focus()
        page.keyboard.press("s")
        expect(page.locator("#status")).to_contain_text("the review queue is empty")
        expect(page.locator("#input")).to_be_visible()
        assert queue.counts()["waiting"] == 1 and not errors
