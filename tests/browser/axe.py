"""axe-core on the page as it is now: WCAG 2.2 AA plus axe's best practices, zero violations.

axe-core is a dev dependency of the web UI (services/web/node_modules/axe-core). Its built file is
evaluated in the page through the DevTools protocol, which the page's Content-Security-Policy does not
govern, so the page is checked with the headers it is served with.

    from tests.browser.axe import assert_accessible
    assert_accessible(page, "approval card")              # fails listing each rule, why, and where
    assert_accessible_in_both_themes(page, "approval card")   # as the system asks for dark, then light
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from playwright.sync_api import Page

AXE_JS = Path(__file__).resolve().parents[2] / "services" / "web" / "node_modules" / "axe-core" / "axe.min.js"

# WCAG 2.0, 2.1 and 2.2 at levels A and AA; best-practice adds landmarks, one h1, region and heading order.
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

_RUN = """async (tags) => {
  const result = await window.axe.run(document, {
    runOnly: { type: "tag", values: tags },
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary, html: n.html.slice(0, 200) })),
  }));
}"""


@cache
def _axe_source() -> str:
    if not AXE_JS.is_file():
        raise AssertionError(f"axe-core is missing at {AXE_JS}: run `make install` (a dev dependency of services/web)")
    return AXE_JS.read_text()


def axe_violations(page: Page) -> list[dict[str, object]]:
    """Each violated rule with the elements that break it, as axe reports them."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    violations: list[dict[str, object]] = page.evaluate(_RUN, RULE_TAGS)
    return violations


def describe(violations: list[dict[str, object]]) -> str:
    lines: list[str] = []
    for v in violations:
        lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
        for node in v["nodes"]:  # type: ignore[attr-defined]
            lines.append(f"    at {node['target']}: {node['html']}")
            lines.extend(f"      {line}" for line in str(node["summary"]).splitlines())
    return "\n".join(lines)


def assert_accessible(page: Page, screen: str) -> None:
    """Fail listing every axe violation on the page, named by the screen it was found on."""
    violations = axe_violations(page)
    assert not violations, f"axe found {len(violations)} violated rule(s) on {screen!r}:\n{describe(violations)}"


def assert_accessible_in_both_themes(page: Page, screen: str) -> None:
    """The screen as a system that asks for dark and one that asks for light shows it (the page follows
    prefers-color-scheme unless the theme toggle chose); the page is left in the light scheme."""
    failures: list[str] = []
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        violations = axe_violations(page)
        if violations:
            failures.append(f"on {screen!r}, {scheme}:\n{describe(violations)}")
    assert not failures, "axe found violations " + "\n".join(failures)
