"""Template filters shared by the pages: timestamps and item ids.

- `when`: a <time> element carrying the exact UTC instant; review/static/time.js
  rewrites its text to the viewer's local time and a relative phrase ("5 min ago"),
  and the exact UTC time stays in the title (shown on hover). Without JavaScript the
  UTC time is what shows.
- `item_link`: an item id as a link to its page, so ids are links on every page.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask, url_for
from markupsafe import Markup, escape


def _parse(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    try:
        return datetime.fromisoformat(str(value).rstrip("Z")).replace(tzinfo=None)
    except ValueError:
        return None


def when(value: datetime | str | None, empty: str = "") -> Markup:
    """<time datetime="...Z" title="... UTC">YYYY-MM-DD HH:MM UTC</time>."""
    moment = _parse(value)
    if moment is None:
        return escape(empty) if value in (None, "") else escape(str(value))
    exact = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    stamp = moment.isoformat(timespec="seconds") + "Z"
    # Every part is a formatted datetime: nothing from a user reaches the markup.
    return Markup(  # nosec B704
        f'<time class="when" datetime="{stamp}" title="{exact}">'
        f'{moment.strftime("%Y-%m-%d %H:%M")} UTC</time>')


def item_link(item_id: str | None) -> Markup:
    """An item id as a link to the item's page (escaped; empty for None)."""
    if not item_id:
        return Markup("")
    href = url_for("queue.item_page", item_id=item_id)
    return Markup('<a class="item-id" href="{}"><code>{}</code></a>').format(href, item_id)


def init_display(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(item_link, "item_link")
