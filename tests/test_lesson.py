"""The lesson page: one self-contained HTML file, stepped through in a real headless chromium.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (CI installs them) and
Selenium; without them they skip and say why. ``SYMBP_UPDATE_SCREENSHOT=1`` rewrites the
README's screenshot, docs/lesson-shopping.png (the shopping page mid-backward-pass).
"""

import html
import os
import re
import shutil
import time
from html.parser import HTMLParser
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symbp as sb
from symbp.cli import main
from symbp.examples import EXAMPLES
from symbp.explain import TEXT

SCREENSHOT = Path(__file__).parent.parent / "docs" / "lesson-shopping.png"
_SUMMARY = re.compile(r"^\((\d+)×(\d+), ‖·‖ = ([-\d.e+]+)\)$")
_NUMBER = r"(\(\d+×\d+, ‖·‖ = [^)]*\)|[^=]+)$"  # a matrix summary, or text without "="


# --- what explain --values prints, read back as (phase, name) -> number text -----------------

def explain_numbers(model, lang: str = "en") -> dict:
    """(forward|backward, name) -> the number ``explain --values`` prints for that step."""
    loss = sb.derive(model).loss.name
    lines = sb.explain(model, lang=lang, values=True).splitlines()
    lines = lines[lines.index(TEXT[lang]["forward"]) + 1:]  # after the given values
    numbers = {("backward", loss): "1"}
    for k, line in enumerate(lines):
        while k + 1 < len(lines) and lines[k + 1].lstrip().startswith("= "):
            k += 1
            line += " " + lines[k].strip()
        match = re.match(r"^  (∂" + re.escape(loss) + r"/∂)?(\S+) = .*? = " + _NUMBER, line)
        if match:
            numbers[("backward" if match.group(1) else "forward", match.group(2))] = match.group(3)
    return numbers


class _Steps(HTMLParser):
    """Each article.step of a page: its attributes, and the cells of its matrix table."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "article" and "step" in attrs.get("class", ""):
            self.steps.append({**attrs, "rows": []})
        elif tag == "tr" and self.steps:
            self.steps[-1]["rows"].append([])
        elif tag == "td" and self.steps:
            self.steps[-1]["cell"] = True

    def handle_data(self, data):
        if self.steps and self.steps[-1].pop("cell", False):
            self.steps[-1]["rows"][-1].append(float(data))


def page_steps(page: str) -> list[dict]:
    parser = _Steps()
    parser.feed(page)
    return parser.steps


def assert_number_matches(explained: str, shown: str, rows: list) -> None:
    """The page's number is explain's; a matrix's table has explain's shape and norm (or entries)."""
    assert shown == explained
    summary = _SUMMARY.match(explained)
    if summary:
        shape, norm = (int(summary.group(1)), int(summary.group(2))), float(summary.group(3))
        if rows:
            assert np.array(rows).shape == shape
            assert np.linalg.norm(rows) == pytest.approx(norm, rel=1e-3)
    elif explained.startswith("["):
        entries = [float(x) for x in re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", explained)]
        assert np.ravel(rows) == pytest.approx(entries, rel=1e-3, abs=1e-4)
    else:
        assert float(shown) == float(explained)


def assert_page_numbers_equal_explain(model, lang="en"):
    expected = {k: v for k, v in explain_numbers(model, lang).items() if v is not None}
    steps = [s for s in page_steps(sb.lesson_html(model, lang=lang, values=True))
             if "data-number" in s]
    shown = {(s["data-phase"], s["data-of"]): s for s in steps}
    assert set(shown) == set(expected)
    for key, text in expected.items():
        assert_number_matches(text, html.unescape(shown[key]["data-number"]), shown[key]["rows"])


# --- the page as a file ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["shopping", "mlp", "xor", "rnn"])
def test_every_step_number_on_the_page_equals_explain_values(name):
    assert_page_numbers_equal_explain(EXAMPLES[name]())


def test_chinese_page_numbers_equal_chinese_explain():
    assert_page_numbers_equal_explain(EXAMPLES["shopping"](), lang="zh")


def test_shopping_page_is_self_contained_and_small():
    page = sb.lesson_html(EXAMPLES["shopping"](), values=True)
    assert len(page.encode()) <= 300_000
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"""(src|href)\s*=""", page), "nothing is loaded from elsewhere"
    assert "prefers-reduced-motion" in page and 'name="viewport"' in page


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_builtin_example_has_a_page(name):
    page = sb.lesson_html(EXAMPLES[name](), values=True)
    steps = page_steps(page)
    assert [s["data-phase"] for s in steps][:2] == ["start", "forward"]
    assert steps[-1]["data-phase"] == "update"
    assert "http://" not in page and "https://" not in page


def test_page_without_values_steps_through_the_formulas():
    page = sb.lesson_html(EXAMPLES["mlp"]())
    steps = page_steps(page)
    assert not any("data-number" in s for s in steps)
    assert {"forward", "backward", "update"} <= {s["data-phase"] for s in steps}


def test_users_own_model_with_odd_names_is_escaped_and_numbered():
    a, x = sp.Symbol("a<b&c"), sp.Symbol("x")
    model = sb.Model(sb.sigmoid(a * x) ** 2, params=[a], values={a: 0.5, x: 2.0})
    page = sb.lesson_html(model, values=True)
    assert "a<b" not in page and "a&lt;b&amp;c" in page
    assert_page_numbers_equal_explain(model)


def test_the_page_is_the_same_on_every_run():
    model = EXAMPLES["mlp"]()
    assert sb.lesson_html(model, values=True) == sb.lesson_html(model, values=True)


def test_unknown_language_is_one_clear_sentence():
    with pytest.raises(sb.SymbpError, match="no lesson page in 'fr'"):
        sb.lesson_html(EXAMPLES["shopping"](), lang="fr")


def test_cli_writes_the_page_and_refuses_a_foreign_file(tmp_path, capsys):
    path = tmp_path / "lesson.html"
    assert main(["lesson", "shopping", "-o", str(path), "--values"]) == 0
    assert "700" in path.read_text(encoding="utf-8")
    assert main(["lesson", "shopping", "-o", str(path), "--lang", "zh"]) == 0  # its own: replaced
    assert "反向传播" in path.read_text(encoding="utf-8")
    foreign = tmp_path / "mine.html"
    foreign.write_text("<p>my notes</p>\n")
    assert main(["lesson", "shopping", "-o", str(foreign)]) == 2
    assert "not generated by symbp" in capsys.readouterr().err
    assert foreign.read_text() == "<p>my notes</p>\n"
    assert main(["lesson", "shopping", "-o", str(tmp_path / "lesson.txt")]) == 2
    assert not (tmp_path / "lesson.txt").exists()


# --- the page in a real browser -------------------------------------------------------------

def _driver_or_skip(width=1280, height=800, phone=False):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("chromium and chromedriver are not installed (apt install chromium "
                    "chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if phone:  # a real phone viewport (a desktop window is at least 500 px wide)
        metrics = {"width": width, "height": height, "pixelRatio": 1}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture
def browser():
    driver = _driver_or_skip()
    yield driver
    driver.quit()


def _open(driver, tmp_path, model="shopping", lang="en", name="page.html"):
    path = tmp_path / name
    path.write_text(sb.lesson_html(EXAMPLES[model](), lang=lang, values=True), encoding="utf-8")
    driver.get(path.as_uri())
    return driver


def _state(driver) -> dict:
    return driver.execute_script("""
        const step = document.querySelector('.step:not([hidden])');
        const node = document.querySelector('svg g.node.active');
        const out = step.querySelector('output');
        return {phase: step.dataset.phase, of: step.dataset.of, node: node ? node.id : null,
                edges: [...document.querySelectorAll('svg g.edge.active')].map(e => e.id),
                formula: step.querySelector('.formula').textContent.trim(),
                number: out ? out.textContent : null,
                counter: document.getElementById('counter').textContent,
                width: document.documentElement.scrollWidth,
                shown: [...document.querySelectorAll('svg text.shown')].map(t => t.textContent)};
    """)


def _press(driver, key):
    from selenium.webdriver.common.by import By

    driver.find_element(By.TAG_NAME, "body").send_keys(key)


def _walk(driver) -> list[dict]:
    """Every state from the first step to the last, pressing the right arrow."""
    from selenium.webdriver.common.keys import Keys

    states = [_state(driver)]
    while driver.execute_script("return !document.getElementById('next').disabled"):
        _press(driver, Keys.ARROW_RIGHT)
        states.append(_state(driver))
    return states


def _errors(driver) -> list:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_shopping_page_steps_forward_then_backward_with_the_right_numbers(browser, tmp_path):
    states = _walk(_open(browser, tmp_path))
    numbers = [(s["phase"], s["number"]) for s in states]
    forward = [k for k, (phase, _) in enumerate(numbers) if phase == "forward"]
    backward = [k for k, (phase, _) in enumerate(numbers) if phase == "backward"]
    assert max(forward) < min(backward)
    assert states[0]["shown"] == [], "no number on the graph before the forward pass"
    assert "700" in states[forward[-1]]["shown"] and "700" not in states[forward[-1] - 1]["shown"]
    at = {}  # where each number first appears (1000 is also the gradient of the discount)
    for phase, number in numbers:
        at.setdefault(number, phase)
    assert at["700"] == at["1000"] == "forward"
    assert at["1.4"] == at["210"] == "backward" and ("backward", "0.7") in numbers
    assert numbers.index(("forward", "1000")) < numbers.index(("backward", "0.7"))
    for before, after in pairwise(states):  # each step moves the highlight or the formula
        assert (before["node"], before["formula"]) != (after["node"], after["formula"])
    gradient_210 = next(s for s in states if s["number"] == "210")
    assert gradient_210["node"] is not None and gradient_210["edges"]
    assert "210" in gradient_210["shown"] and "210" not in states[forward[-1]]["shown"]
    assert states[-1]["phase"] == "update" and states[0]["counter"].endswith(str(len(states)))
    assert _errors(browser) == []


def test_every_step_in_the_browser_shows_the_number_explain_prints(browser, tmp_path):
    for name in ("shopping", "mlp"):
        expected = explain_numbers(EXAMPLES[name]())
        for state in _walk(_open(browser, tmp_path, name, name=f"{name}.html")):
            if state["number"] is not None:
                assert state["number"] == expected[(state["phase"], state["of"])], state
    assert _errors(browser) == []


def test_back_and_the_buttons_return_to_the_previous_state(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, tmp_path)
    first = _state(browser)
    browser.find_element(By.ID, "next").click()
    second = _state(browser)
    assert second != first
    for _ in range(4):
        _press(browser, Keys.ARROW_RIGHT)
    ahead = _state(browser)
    _press(browser, Keys.ARROW_RIGHT)
    _press(browser, Keys.ARROW_LEFT)
    assert _state(browser) == ahead
    for _ in range(4):
        browser.find_element(By.ID, "back").click()
    assert _state(browser) == second
    browser.find_element(By.ID, "next").send_keys(Keys.ENTER)  # a focused button, by keyboard
    assert _state(browser)["counter"] != second["counter"]
    _press(browser, Keys.HOME)
    assert _state(browser) == first
    assert browser.execute_script("return document.getElementById('back').disabled")
    assert _errors(browser) == []


def test_chinese_page_reads_in_chinese(browser, tmp_path):
    from selenium.webdriver.common.by import By

    _open(browser, tmp_path, lang="zh")
    states = _walk(browser)
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang").startswith("zh")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "下一步" in text and "上一步" in text and "权重更新" in text
    headings = browser.execute_script(
        "return [...document.querySelectorAll('.step h2')].map(h => h.textContent)")
    assert any("前向" in h for h in headings) and any("反向" in h for h in headings)
    assert [s["number"] for s in states if s["number"]][:3] == ["600", "1000", "700"]
    assert _errors(browser) == []


def test_page_fits_a_phone_and_shoots_the_readme_picture(tmp_path):
    from selenium.webdriver.common.keys import Keys

    phone = _driver_or_skip(390, 844, phone=True)
    try:
        for model in ("shopping", "mlp"):  # mlp: 1x8 and 4x8 tables scroll inside their box
            for state in _walk(_open(phone, tmp_path, model, name=f"{model}.html")):
                assert state["width"] <= 390, state
        assert phone.get_screenshot_as_png().startswith(b"\x89PNG")
        assert _errors(phone) == []
    finally:
        phone.quit()
    wide = _driver_or_skip(1280, 800)
    try:
        _open(wide, tmp_path)
        while _state(wide)["number"] != "210":  # mid-backward: the gradient of pants_count
            _press(wide, Keys.ARROW_RIGHT)
        time.sleep(0.5)  # let the labels fade in
        picture = wide.get_screenshot_as_png()
        if os.environ.get("SYMBP_UPDATE_SCREENSHOT") == "1":
            SCREENSHOT.write_bytes(picture)
        assert picture.startswith(b"\x89PNG") and _errors(wide) == []
    finally:
        wide.quit()


def test_a_wide_graph_scrolls_to_the_active_node_with_labels_a_projector_shows(browser, tmp_path):
    """The transformer's 25-node graph was squeezed into the page: labels about 1 px high."""
    from selenium.webdriver.common.keys import Keys

    _open(browser, tmp_path, "transformer")
    for _ in range(12):  # into the attention block, far right of the first screen
        _press(browser, Keys.ARROW_RIGHT)
    time.sleep(1.0)  # the smooth scroll
    seen = browser.execute_script("""
        const figure = document.querySelector('figure'), frame = figure.getBoundingClientRect();
        const node = document.querySelector('svg g.node.active');
        const box = node.getBoundingClientRect(), label = node.querySelector('text').getBoundingClientRect();
        return {label: label.height, scrolled: figure.scrollLeft, inside: box.left >= frame.left
                && box.right <= frame.right, page: document.documentElement.scrollWidth};
    """)
    assert seen["label"] >= 10 and seen["scrolled"] > 0 and seen["inside"], seen
    assert seen["page"] <= 1280, seen  # the figure scrolls, not the page
