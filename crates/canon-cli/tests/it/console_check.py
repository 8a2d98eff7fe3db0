#!/usr/bin/python3
"""Drives the web console of `canon serve --http` in headless Chromium, as a user would.

Usage: console_check.py URL TOKEN SCREENSHOT_DIR [--dataset NAME] [--model NAME]
                        [--query SQL --expect-rows N] [--refused SQL]

Steps: log in (a wrong token first), find and open a dataset's contract, see a model in
the lineage graph and unfold its columns, run a query, see a policy refusal, find the
query in the history. Each step prints one line when it passes and leaves a screenshot;
the first failure prints its reason, saves failure.png and exits non-zero. Throughout, the
token must never appear in the page, and the browser must log no errors.
"""

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 20


class CheckFailed(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("token")
    p.add_argument("screenshots", type=Path)
    p.add_argument("--dataset", help="a dataset to search for and open")
    p.add_argument("--model", help="a model in the lineage graph with an edge into it")
    p.add_argument("--query", help="a query whose grid must show --expect-rows rows")
    p.add_argument("--expect-rows", type=int)
    p.add_argument("--refused", help="a statement the server's policy refuses")
    p.add_argument("--expect-total", type=int,
                   help="how many datasets, models and system tables the catalog lists, "
                        "50 to a page")
    args = p.parse_args()
    if args.query is not None and args.expect_rows is None:
        p.error("--query needs --expect-rows")
    return args


def start_browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--window-size=1400,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


class Check:
    def __init__(self, driver, args):
        self.driver = driver
        self.args = args
        self.base = args.url.split("#")[0]
        self.errors = []

    # Helpers

    def wait(self, condition, failure):
        """Waits for `condition(driver)` to be truthy; fails with `failure` otherwise.

        The console re-renders views as their data arrives, so an element found a moment
        ago may be gone: that only means "not yet", like an element not found.
        """
        try:
            return WebDriverWait(
                self.driver, TIMEOUT, ignored_exceptions=(StaleElementReferenceException,)
            ).until(condition)
        except TimeoutException:
            raise CheckFailed(f"{failure} (waited {TIMEOUT} s)") from None

    def visible(self, css, failure):
        def found(d):
            for e in d.find_elements(By.CSS_SELECTOR, css):
                if e.is_displayed():
                    return e
            return False
        return self.wait(found, failure)

    def by_data(self, css, attribute, value):
        """Elements matching `css` whose attribute equals `value` (no CSS escaping needed)."""
        return [e for e in self.driver.find_elements(By.CSS_SELECTOR, css)
                if e.get_attribute(attribute) == value]

    def go(self, hash_route):
        self.driver.execute_script("location.hash = arguments[0];", hash_route)

    def finish_step(self, name, screenshot):
        """Checks the page and the browser log after a step, then keeps its picture."""
        if self.args.token in self.driver.page_source:
            raise CheckFailed(f"{name}: the token appears in the page source")
        self.collect_log(name)
        self.driver.save_screenshot(str(self.args.screenshots / screenshot))
        print(f"ok: {name}", flush=True)

    def collect_log(self, step):
        # Chrome logs each non-2xx answer as a SEVERE network entry: the 401 of the wrong
        # token and the 403 of the refused statement are provoked here on purpose.
        for entry in self.driver.get_log("browser"):
            if entry.get("level") != "SEVERE":
                continue
            message = entry.get("message", "")
            if "favicon" in message:
                continue
            provoked = entry.get("source") == "network" and "/api/" in message and (
                "status of 401" in message or "status of 403" in message)
            if provoked:
                continue
            self.errors.append(f"[{step}] {message}")
        if self.errors:
            raise CheckFailed("the browser logged errors:\n  " + "\n  ".join(self.errors))

    def run_statement(self, sql):
        """Puts `sql` in the editor, runs it and waits for its answer; returns the state."""
        editor = self.visible("#sql", "the SQL view has no editor (#sql)")
        status = self.wait(lambda d: d.find_elements(By.ID, "sql-status"),
                           "the SQL view has no status line (#sql-status)")[0]
        before = int(status.get_attribute("data-run") or "0")
        editor.clear()
        editor.send_keys(sql)
        self.driver.find_element(By.ID, "run").click()

        def answered(d):
            s = d.find_element(By.ID, "sql-status")
            run = int(s.get_attribute("data-run") or "0")
            state = s.get_attribute("data-state")
            return state if run > before and state != "running" else False
        return self.wait(answered, f"no answer to {sql!r}")

    # Steps

    def login(self):
        d = self.driver
        d.get(self.base)
        token = self.visible("#token", "no token field (#token) on the log-in page")
        token.send_keys("not-the-token-" + secrets.token_hex(8))
        d.find_element(By.ID, "login").click()
        error = self.visible("#login-error", "a wrong token did not show #login-error")
        if not error.text.strip():
            raise CheckFailed("#login-error is shown but empty")
        if d.find_element(By.ID, "app").is_displayed():
            raise CheckFailed("the app is shown after a wrong token")
        token.clear()
        token.send_keys(self.args.token)
        d.find_element(By.ID, "login").click()

        def answered(d):
            if d.find_element(By.ID, "app").is_displayed():
                return "app"
            error = d.find_element(By.ID, "login-error")
            return error.is_displayed() and error.text.strip() and "error"
        if self.wait(answered, "logging in with the token got no answer") == "error":
            raise CheckFailed("the token was not accepted: "
                              + d.find_element(By.ID, "login-error").text)
        self.visible("#nav-catalog", "the app has no navigation (#nav-catalog)")
        for link in ("nav-lineage", "nav-sql", "nav-history"):
            if not d.find_element(By.ID, link).is_displayed():
                raise CheckFailed(f"navigation link #{link} is missing")
        self.wait(lambda d: not d.find_element(By.ID, "login-error").is_displayed(),
                  "#login-error stayed after logging in")
        self.finish_step("log in (a wrong token refused, the right one accepted)", "login.png")

    def paging(self):
        """The whole catalog, a page at a time: the first page and the count, then the last."""
        total = self.args.expect_total
        self.driver.find_element(By.ID, "nav-catalog").click()
        self.visible("#catalog-table", "the catalog has no table (#catalog-table)")
        info = lambda d: d.find_element(By.ID, "page-info").text
        self.wait(lambda d: info(d) == f"Showing 1–{min(50, total)} of {total}",
                  f"#page-info does not say the first page of {total}")
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#catalog-table tbody tr")
        if len(rows) != min(50, total):
            raise CheckFailed(f"the first page shows {len(rows)} rows, not {min(50, total)}")
        pages = (total + 49) // 50
        for _ in range(pages - 1):
            before = info(self.driver)
            self.driver.find_element(By.ID, "next-page").click()
            self.wait(lambda d: info(d) != before, "#next-page did not turn the page")
        last = f"Showing {(pages - 1) * 50 + 1}–{total} of {total}"
        if info(self.driver) != last:
            raise CheckFailed(f"the last page says {info(self.driver)!r}, not {last!r}")
        if self.driver.find_element(By.ID, "next-page").is_enabled():
            raise CheckFailed("#next-page is still enabled on the last page")
        self.finish_step(f"catalog pages through {total} entries", "paging.png")

    def catalog(self):
        name = self.args.dataset
        self.driver.find_element(By.ID, "nav-catalog").click()
        search = self.visible("#search", "the catalog has no search box (#search)")
        self.visible("#catalog-table", "the catalog has no table (#catalog-table)")
        search.clear()
        search.send_keys(name)
        link = self.wait(
            lambda d: next(iter(self.by_data("#catalog-table a.dataset-link", "data-name", name)), False),
            f"searching for {name!r} did not list it in #catalog-table")
        self.finish_step(f"catalog search finds {name}", "catalog.png")

        link.click()
        self.wait(lambda d: any(name in h.text for h in d.find_elements(By.CSS_SELECTOR, "#dataset-page h1")),
                  f"#dataset-page has no heading naming {name!r}")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#columns-table tbody tr"),
                  f"the contract page of {name!r} shows no columns (#columns-table)")
        self.finish_step(f"contract page of {name}", "contract.png")

    def lineage(self):
        model = self.args.model
        self.driver.find_element(By.ID, "nav-lineage").click()
        self.visible("#lineage", "the lineage view (#lineage) did not open")
        self.driver.execute_script(
            "location.hash = '#/lineage/' + encodeURIComponent(arguments[0]);", model)
        # The focused view titles itself with the model; waiting for it keeps the check
        # from grabbing a node of the whole graph just before it is replaced.
        self.wait(lambda d: any(model in h.text for h in d.find_elements(By.CSS_SELECTOR, "#lineage h1")),
                  f"#/lineage/{model} did not open the lineage of {model!r}")
        node = self.wait(
            lambda d: next(iter(self.by_data("#lineage-graph g.node", "data-name", model)), False),
            f"#lineage-graph has no node for {model!r}")
        self.wait(lambda d: self.by_data("#lineage-graph path.edge", "data-to", model),
                  f"#lineage-graph has no edge into {model!r}")
        node.click()
        self.wait(lambda d: self.by_data("#lineage-graph g.column", "data-table", model),
                  f"clicking the node of {model!r} showed no column rows")
        self.finish_step(f"lineage of {model}", "lineage.png")

    def query(self):
        sql, expected = self.args.query, self.args.expect_rows
        self.driver.find_element(By.ID, "nav-sql").click()
        state = self.run_statement(sql)
        if state != "done":
            shown = self.driver.find_elements(By.CSS_SELECTOR, "#sql-error, #policy-refusal")
            raise CheckFailed(f"the query failed ({state}): "
                              + (shown[0].text if shown else "no error shown"))
        rows = self.driver.find_elements(By.CSS_SELECTOR, "#results tbody tr")
        if len(rows) != expected:
            raise CheckFailed(f"#results shows {len(rows)} rows, expected {expected}")
        self.finish_step(f"query shows {expected} rows", "query.png")

    def refusal(self):
        self.driver.find_element(By.ID, "nav-sql").click()
        state = self.run_statement(self.args.refused)
        if state != "refused":
            shown = self.driver.find_elements(By.CSS_SELECTOR, "#sql-error")
            raise CheckFailed(f"{self.args.refused!r} was not refused by policy (state {state}): "
                              + (shown[0].text if shown else "no error shown"))
        box = self.visible("#policy-refusal", f"no #policy-refusal for {self.args.refused!r}")
        if "refusal" not in (box.get_attribute("class") or "").split():
            raise CheckFailed("#policy-refusal lacks class `refusal`")
        if not box.text.strip().startswith("Refused by policy"):
            raise CheckFailed(f"#policy-refusal does not start with 'Refused by policy': {box.text!r}")
        self.finish_step("policy refusal shown", "refusal.png")

    def history(self):
        wanted = " ".join(self.args.query.split())
        self.driver.find_element(By.ID, "nav-history").click()
        # The statement is recorded as it finishes, which may be just after its answer:
        # refresh until it shows.
        deadline = time.monotonic() + TIMEOUT
        while True:
            self.visible("#history", "the history table (#history) did not show")
            cells = self.driver.find_elements(By.CSS_SELECTOR, "#history tbody td.statement-cell")
            hit = next((c for c in cells
                        if wanted in " ".join((c.get_attribute("textContent") or "").split())), None)
            if hit:
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"#history lists no statement containing {wanted!r}")
            time.sleep(1)
            self.driver.find_element(By.ID, "history-refresh").click()
            self.wait(lambda d: d.find_element(By.ID, "history-refresh").is_enabled(),
                      "the history did not finish refreshing")
        self.finish_step("history lists the query", "history.png")
        # A click on the statement opens it in the editor.
        hit.find_element(By.CSS_SELECTOR, "button.statement").click()
        editor = self.visible("#sql", "clicking a statement in the history did not open the editor")
        if wanted not in " ".join((editor.get_attribute("value") or "").split()):
            raise CheckFailed("clicking a statement in the history did not load it into #sql")
        print("ok: a statement in the history opens in the editor", flush=True)

    def run(self):
        self.login()
        if self.args.expect_total is not None:
            self.paging()
        if self.args.dataset:
            self.catalog()
        if self.args.model:
            self.lineage()
        if self.args.query is not None:
            self.query()
        if self.args.refused:
            self.refusal()
        if self.args.query is not None:
            self.history()
        self.collect_log("end")


def main():
    args = parse_args()
    args.screenshots.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="canon-console-")
    driver = None
    try:
        driver = start_browser(profile)
        driver.set_page_load_timeout(TIMEOUT)
        Check(driver, args).run()
        print("ok: console check passed", flush=True)
        return 0
    except (CheckFailed, WebDriverException) as e:
        reason = e.msg if isinstance(e, WebDriverException) and e.msg else str(e)
        print(f"FAIL: {reason}", file=sys.stderr, flush=True)
        if driver is not None:
            try:
                driver.save_screenshot(str(args.screenshots / "failure.png"))
            except WebDriverException:
                pass
        return 1
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
