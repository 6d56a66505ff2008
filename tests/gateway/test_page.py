"""GET / and /static/: the web page's files, their types, and the policy the browser holds them to.

What the page does in a browser is tested in tests/web; this is what the gateway answers.
"""
import re
from html.parser import HTMLParser

import pytest

from gateway import page

PAGE_FILES = sorted(path.name for path in page.WEB_DIR.iterdir())


class PageParts(HTMLParser):
    """The page's scripts, style sheets and any inline code or style, as found in its markup."""

    def __init__(self):
        super().__init__()
        self.script_sources = []
        self.style_sheets = []
        self.inline_code = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            if "src" in attributes:
                self.script_sources.append(attributes["src"])
            else:
                self.inline_code.append("<script> without src")
        if tag == "style":
            self.inline_code.append("<style>")
        if tag == "link" and attributes.get("rel") == "stylesheet":
            self.style_sheets.append(attributes["href"])
        self.inline_code += [f"{tag} {name}=" for name in attributes if name == "style" or name.startswith("on")]


def directives(policy):
    return {name: value for name, _, value in (part.strip().partition(" ") for part in policy.split(";"))}


def test_the_page_is_html_with_a_strict_content_security_policy(client):
    response = client.get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.mimetype_params.get("charset") == "utf-8"
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy == {
        "default-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_page_has_no_inline_script_or_style_for_the_policy_to_block(client):
    parts = PageParts()
    parts.feed(client.get("/").get_data(as_text=True))

    assert parts.inline_code == []
    assert parts.script_sources == ["/static/app.js"]
    assert parts.style_sheets == ["/static/style.css"]


@pytest.mark.parametrize(
    "name, mimetypes",
    [
        ("app.js", {"text/javascript", "application/javascript"}),
        ("api.js", {"text/javascript", "application/javascript"}),
        ("jobs.js", {"text/javascript", "application/javascript"}),
        ("style.css", {"text/css"}),
        ("icon.svg", {"image/svg+xml"}),
        ("index.html", {"text/html"}),
    ],
)
def test_each_static_file_is_served_with_its_type_and_the_page_policy(client, name, mimetypes):
    response = client.get(f"/static/{name}")

    assert response.status_code == 200
    assert response.mimetype in mimetypes
    assert response.get_data() == (page.WEB_DIR / name).read_bytes()
    assert response.headers["Content-Security-Policy"] == page.CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_module_the_page_imports_is_served(client):
    # A module that 404s breaks the whole page in the browser, silently for a user.
    pending, seen = ["app.js"], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        response = client.get(f"/static/{name}")
        assert response.status_code == 200, name
        imported = re.findall(r'^import .* from "\./([\w.-]+)";$', response.get_data(as_text=True), re.MULTILINE)
        pending += [module for module in imported if module not in seen]
    assert seen == {name for name in PAGE_FILES if name.endswith(".js")}


@pytest.mark.parametrize(
    "path",
    [
        "/static/no-such-file.js",
        "/static/",
        "/static",
        "/index.html",
        # Out of the folder, plain and encoded: the gateway's own code and settings stay unseen.
        "/static/../page.py",
        "/static/%2e%2e/page.py",
        "/static/..%2fpage.py",
        "/static/%2e%2e%2f%2e%2e%2fgateway%2fsettings.py",
        "/static/..\\page.py",
    ],
)
def test_a_path_that_is_not_a_page_file_is_a_json_404(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_page_is_only_read(client, method):
    response = client.open("/", method=method)

    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


def test_the_api_answers_keep_their_own_headers(client, user):
    # The page's policy is for the page; the API's answers are unchanged by it.
    for response in (client.get("/healthz"), client.get("/jobs", headers=user.headers)):
        assert response.status_code == 200
        assert "Content-Security-Policy" not in response.headers
        assert response.mimetype == "application/json"
