"""The browser fixtures of tests/browser, for the security tests that need Chromium."""

from tests.browser.conftest import browser, page, serve  # noqa: F401
