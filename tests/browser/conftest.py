"""Real-browser tests: Debian's Chromium, driven by Playwright, against `kefu serve` in a child process.

Each test gets its own server on its own database (the ``settings`` / ``db_url`` fixtures,
so SQLite by default, PostgreSQL + Redis when KEFU_DATABASE_URL / KEFU_REDIS_URL are set).
The server starts with its demo workspace and the product's default language (zh_CN); the
tests log in with the demo logins it prints, as a person trying kefu would.

One Chromium per test module. The tests use Playwright's *async* API in a module-wide event
loop: the sync API marks the thread's event loop as running between its calls, and the
database fixtures call ``asyncio.run`` on PostgreSQL, which then refuses to start.

Every :class:`Tab` records console errors, uncaught page errors, Content-Security-Policy
violations and JavaScript dialogs; :meth:`Tab.assert_clean` fails on any of them.
Screenshots go to a pytest temporary folder and are copied to ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
    async_playwright,
    expect,
)
from playwright.async_api import Error as PlaywrightError

from kefu.settings import Settings
from tests.live import ServerProcess, running, settings_env

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

_LOGIN_LINE = re.compile(r"^\s*(admin|supervisor|agent)\s+(\S+@\S+)\s+password: (\S+)\s*$", re.MULTILINE)
_CALL_FAILED = pytest.StashKey[bool]()

# Registers the page's CSP violation reports with the test (init scripts are not subject to the CSP).
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__kefuCspViolation(
    `${e.effectiveDirective} blocked ${e.blockedURI || "inline code"} in ${e.sourceFile || location.href}`
    + `:${e.lineNumber} (${e.sample || "no sample"})`
  );
});
"""


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Lets the tab fixture know whether the test body failed (to take a screenshot of it)."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


# -- the server -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Login:
    role: str
    email: str
    password: str


@dataclass
class Kefu:
    """A running `kefu serve` and the demo logins it printed."""

    server: ServerProcess
    logins: list[Login]

    @property
    def url(self) -> str:
        return self.server.url

    def login(self, role: str) -> Login:
        for login in self.logins:
            if login.role == role:
                return login
        raise AssertionError(f"the demo printed no {role} login:\n{self.server.log()}")


def _serve(settings: Settings, tmp_path: Path, *, demo: bool) -> Iterator[Kefu]:
    env = settings_env(settings, KEFU_DEFAULT_LOCALE="zh_CN")
    server = ServerProcess(env, args=() if demo else ("--no-demo",), log=tmp_path / "serve.log")
    with running(server):
        logins = [Login(*found) for found in _LOGIN_LINE.findall(server.log())]
        if demo:
            assert logins, f"kefu serve printed no demo logins:\n{server.log()}"
        yield Kefu(server, logins)


@pytest.fixture
def kefu(settings: Settings, tmp_path: Path) -> Iterator[Kefu]:
    """`kefu serve` on a fresh database: first run, so it creates the demo workspace; zh_CN default."""
    yield from _serve(settings, tmp_path, demo=True)


@pytest.fixture
def kefu_no_demo(settings: Settings, tmp_path: Path) -> Iterator[Kefu]:
    yield from _serve(settings, tmp_path, demo=False)


# -- the browser ----------------------------------------------------------------------------------
@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set KEFU_CHROMIUM)")
    return CHROMIUM


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(playwright: Playwright, chromium: str) -> AsyncIterator[Browser]:
    launched = await playwright.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS, headless=True)
    yield launched
    await launched.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Screenshots of this run; copies land in test-artifacts/screenshots (the last run's only)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return tmp_path_factory.mktemp("screenshots")


@dataclass
class Tab:
    """A page in its own browser context (its own cookies), watched for errors."""

    page: Page
    base: str
    shots: Path
    prefix: str
    console_errors: list[tuple[str, str]] = field(default_factory=list)  # (text, url)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def context(self) -> BrowserContext:
        return self.page.context

    async def watch(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on("dialog", self._on_dialog)
        self.page.on("request", self._on_request)
        await self.page.expose_function("__kefuCspViolation", self._on_csp_violation)
        await self.page.add_init_script(_CSP_LISTENER)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append((message.text, message.location.get("url", "")))

    def _on_csp_violation(self, report: str) -> None:
        self.csp_violations.append(report)

    async def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    def _on_request(self, request: Request) -> None:
        self.requests.append(request.url)

    def url(self, path: str) -> str:
        return self.base + path

    async def goto(self, path: str, *, status: int = 200) -> Response:
        response = await self.page.goto(self.url(path))
        assert response is not None, path
        assert response.status == status, f"{path}: {response.status} {await response.text()}"
        return response

    async def login(self, who: Login, *, lands_on: str = "/") -> None:
        """Log in through the login form (language-neutral: by field ids)."""
        if urlsplit(self.page.url).path != "/login":
            await self.goto("/login")
        await self.page.locator("#f-email").fill(who.email)
        await self.page.locator("#f-password").fill(who.password)
        await self.page.locator('form[action="/login"] button[type="submit"]').click()
        await expect(self.page).to_have_url(self.url(lands_on))

    async def shot(self, name: str, *, full_page: bool = True) -> Path:
        path = self.shots / f"{self.prefix}-{name}.png"
        await self.page.screenshot(path=path, full_page=full_page)
        shutil.copy2(path, ARTIFACTS / path.name)
        return path

    async def horizontal_overflow(self) -> int:
        """How many CSS pixels the page is wider than the screen (0 or less: no sideways scrolling).

        Measured against the layout viewport (``documentElement.clientWidth``), not
        ``window.innerWidth``: a mobile browser widens innerWidth to fit content that is too
        wide (and zooms out), so ``scrollWidth <= innerWidth`` holds even when a page overflows.
        """
        overflow: int = await self.page.evaluate(
            "document.scrollingElement.scrollWidth - document.documentElement.clientWidth"
        )
        return overflow

    def problems(self, *, allow_status_of: Collection[str] = ()) -> list[str]:
        """Console errors, page errors, CSP violations and dialogs so far.

        ``allow_status_of``: paths (no query) whose error *status* is expected: Chromium logs
        a console error for every 4xx/5xx response, the 403 page included. /favicon.ico is
        always allowed: kefu has no favicon, and Chromium asks for one on the first page.
        """
        allowed = {*allow_status_of, "/favicon.ico"}

        def expected(text: str, url: str) -> bool:
            return (
                text.startswith("Failed to load resource: the server responded with a status of")
                and url.startswith(self.base + "/")
                and urlsplit(url).path in allowed
            )

        found = [f"console: {text} [{url}]" for text, url in self.console_errors if not expected(text, url)]
        found += [f"page error: {error}" for error in self.page_errors]
        found += [f"CSP violation: {violation}" for violation in self.csp_violations]
        found += [f"dialog: {dialog}" for dialog in self.dialogs]
        return found

    async def assert_clean(self, *, allow_status_of: Collection[str] = ()) -> None:
        await self.page.evaluate("0")  # a round trip: events the page sent before it have arrived
        problems = self.problems(allow_status_of=allow_status_of)
        assert not problems, "\n".join(problems)


class OpenTab(Protocol):
    async def __call__(
        self, server: Kefu, name: str, *, viewport: ViewportSize = ..., locale: str = ..., **options: Any
    ) -> Tab: ...


@pytest_asyncio.fixture(loop_scope="module")
async def open_tab(
    browser: Browser, screenshot_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[OpenTab]:
    """``await open_tab(kefu, "admin")``: a new browser context (one person) with one watched page.

    The name prefixes the person's screenshots: ``<test module>-<name>-<shot>.png``.
    """
    module = request.node.module.__name__.rpartition(".")[2].removeprefix("test_")
    contexts: list[BrowserContext] = []
    tabs: list[Tab] = []

    async def open_(
        server: Kefu, name: str, *, viewport: ViewportSize = DESKTOP, locale: str = "zh-CN", **options: Any
    ) -> Tab:
        context = await browser.new_context(viewport=viewport, locale=locale, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        tab = Tab(await context.new_page(), server.url, screenshot_dir, f"{module}-{name}")
        await tab.watch()
        tabs.append(tab)
        return tab

    yield open_
    if request.node.stash.get(_CALL_FAILED, False):
        for tab in tabs:
            with contextlib.suppress(PlaywrightError):  # a crashed page has no picture to take
                await tab.shot("FAILED", full_page=False)
    for context in contexts:
        await context.close()
