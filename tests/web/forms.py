"""Signing in and posting forms through the Flask test client with CSRF on."""

from __future__ import annotations

import re

PASSWORD = "correct horse"


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def login(app, name: str):  # noqa: ANN001, ANN201 - a Flask app; its test client
    browser = app.test_client()
    token = csrf(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"csrf_token": token, "name": name,
                                            "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser
