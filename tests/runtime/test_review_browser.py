"""The review station in a real browser: Debian's chromium, driven through its chromedriver by Selenium
(no browser download; Selenium Manager is never asked for anything).

Load the printed address, review calls by keyboard only, reload and find the labels kept, check that the
Persian transcripts' highlights cover exactly the quoted characters and read right to left, open the
report page and find its plot, and find no transcript text in the browser's profile afterwards.
"""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from tests.support.reviewdata import build_box_output

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="selenium is not installed (the 'test' extra)")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian's chromium and chromedriver are not installed (scripts/setup.sh installs them as root: "
           "apt-get install -y chromium chromium-driver)",
)
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000"]

# Where each mark is in the whole text, measured in the page itself: the line's offset plus the length of
# the text before the mark within its line.
MARKS_JS = """
const out = [];
for (const m of document.querySelectorAll('#transcript mark.ev')) {
  const line = m.closest('.line');
  const r = document.createRange();
  r.setStart(line, 0); r.setEndBefore(m);
  out.push({features: m.dataset.features.split(' '), start: Number(line.dataset.offset) + r.toString().length,
            text: m.textContent, dir: getComputedStyle(line).direction});
}
return out;
"""


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    return build_box_output(tmp_path_factory.mktemp("box"), offsets_for=("call-fa-001.txt",))


@pytest.fixture()
def served(box, tmp_path):
    from appliance.review.server import make_server
    from appliance.review.station import ReviewStation

    station = ReviewStation.open(box.results, box.archive, box.identity, tmp_path / "review", "dr-test")
    server = make_server(station)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield station, server
    server.close()
    thread.join(timeout=10)


@pytest.fixture()
def browser(tmp_path, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    profile = tmp_path / "profile"
    profile.mkdir()
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.profile_dir = profile
    yield driver
    try:
        driver.quit()
    except Exception:  # already quit by the test
        pass


def _keys(driver, *keys):
    from selenium.webdriver.common.action_chains import ActionChains

    for k in keys:
        ActionChains(driver).send_keys(k).perform()


def _wait(driver, cond, timeout=20):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(cond)


def _page_key(driver) -> str | None:
    """The call key of the page now shown (None on other pages)."""
    return driver.execute_script("return document.body ? (document.body.dataset.key || null) : null;")


def _saved_labels(station, key):
    from appliance.review.labels import LabelStore

    st = LabelStore(station.workspace.log_path).items.get(key)
    return (dict(st.labels), st.done) if st else ({}, False)


def _expected_spans(box, name):
    """feature → set of character positions its quotes cover in the transcript (each quote once)."""
    key = box.keys[name]
    text = box.texts[key]
    out: dict[str, set[int]] = {}
    for feat, fr in box.results_json[key]["features"].items():
        for ev in fr.get("evidence") or []:
            s = ev.get("start")
            if s is None:
                s = text.index(ev["quote"])
                assert text.count(ev["quote"]) == 1
            assert text[s:s + len(ev["quote"])] == ev["quote"]
            out.setdefault(feat, set()).update(range(s, s + len(ev["quote"])))
    return out


def test_review_by_keyboard_in_chromium(box, served, browser):
    from selenium.webdriver.common.keys import Keys

    station, server = served
    d = browser
    base = server.url.split("/login")[0]
    d.get(server.url)  # the one-time token is exchanged for a session cookie, then the queue
    _wait(d, lambda d: d.current_url == base + "/")
    assert "to review" in d.title and len(d.find_elements("css selector", ".qrow")) == len(box.keys)

    # Three calls by keyboard only. First: move down two features, mark it present, back up, not mentioned.
    _keys(d, Keys.ENTER)
    _wait(d, lambda d: "/item/" in d.current_url)
    first = _page_key(d)
    feats = [li.get_attribute("data-key") for li in d.find_elements("css selector", ".feat")]
    _keys(d, "j", "j", "p", "k", "k", "n")
    _wait(d, lambda d: _saved_labels(station, first)[0] == {feats[2]: "present", feats[1]: "not_mentioned"})
    _keys(d, Keys.ENTER)
    _wait(d, lambda d: _page_key(d) not in (None, first))
    labels, done = _saved_labels(station, first)
    assert done and labels[feats[2]] == "present" and labels[feats[1]] == "not_mentioned"
    assert set(labels) == set(feats)  # the rest took the suggestions, saved with the call
    reviewed = [first]
    for _ in range(2):  # accept every suggestion: one key per call (missing values must be chosen first)
        key = _page_key(d)
        lis = d.find_elements("css selector", ".feat")
        for idx in [i for i, li in enumerate(lis) if not li.get_attribute("data-suggestion")]:
            _keys(d, *(["k"] * len(lis)), *(["j"] * idx), "a")
        _keys(d, Keys.ENTER)
        _wait(d, lambda d, key=key: _page_key(d) != key)
        assert _saved_labels(station, key)[1]
        reviewed.append(key)

    # A fourth call, half done: one choice, then the tab is reloaded. The choice is still there.
    fourth = _page_key(d)
    _keys(d, "j", "a")
    target = d.find_elements("css selector", ".feat")[1].get_attribute("data-key")
    _wait(d, lambda d: _saved_labels(station, fourth)[0] == {target: "absent"})
    d.refresh()
    _wait(d, lambda d: d.find_element("id", f"f-{target}").get_attribute("data-choice") == "absent")
    chosen = d.find_element("id", f"f-{target}").find_element("css selector", ".choice.chosen")
    assert chosen.get_attribute("data-choice") == "absent"
    _keys(d, "g")
    _wait(d, lambda d: d.current_url == base + "/")
    states = {r.get_attribute("data-key"): r.find_elements("css selector", "td")[-1].text
              for r in d.find_elements("css selector", ".qrow")}
    assert all(states[k] == "done" for k in reviewed) and states[fourth] == "started"
    rows = [json.loads(x) for x in station.workspace.dataset_path.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(reviewed)

    # Persian: highlights cover exactly the quoted characters, in right-to-left lines; with offsets
    # (call-fa-001) and by search (call-fa-002, an older result without offsets).
    for name in ("call-fa-001.txt", "call-fa-002.txt"):
        d.get(f"{base}/item/{box.keys[name]}")
        _wait(d, lambda d: d.find_elements("id", "transcript"))
        marks = d.execute_script(MARKS_JS)
        text = box.texts[box.keys[name]]
        got: dict[str, set[int]] = {}
        for m in marks:
            assert text[m["start"]:m["start"] + len(m["text"])] == m["text"]
            assert m["dir"] == "rtl"
            for f in m["features"]:
                got.setdefault(f, set()).update(range(m["start"], m["start"] + len(m["text"])))
        assert got == _expected_spans(box, name) and got, name
        assert d.find_element("id", "transcript").get_attribute("dir") == "rtl"
    d.save_screenshot(str(browser.profile_dir.parent / "persian.png"))

    # The report page, by keyboard: the plot is there and was drawn.
    _keys(d, "r")
    _wait(d, lambda d: d.current_url == base + "/report")
    _wait(d, lambda d: d.execute_script("const i = document.getElementById('plot'); "
                                        "return i && i.complete && i.naturalWidth > 0;"), timeout=60)
    assert d.find_elements("id", "warnings")
    d.quit()  # flush the profile to disk before looking into it

    # No transcript text anywhere in the browser's profile (no-store: nothing cached on disk).
    snippets = {line.strip().encode("utf-8") for k in reviewed + [box.keys["call-fa-001.txt"]]
                for line in box.texts[k].splitlines() if len(line.strip()) > 12}
    leaks = [str(p) for p in browser.profile_dir.rglob("*") if p.is_file()
             and any(s in p.read_bytes() for s in snippets)]
    assert not leaks, leaks
