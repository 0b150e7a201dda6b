"""The browser flow of the web UI, on a page that is already signed in (or on a ``--no-auth`` API).

Kept apart from the test so the SSO test can put Keycloak's login page in front of the same steps.
Each page is saved as a screenshot in ``artifacts``.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path

from playwright.sync_api import Page, expect

FLOW_TIMEOUT_MS = 600_000  # a job runs OCR on 2 shared cores


def drop_file(page: Page, target: str, path: Path) -> None:
    """Drop a file on ``target`` as a user dragging it from their desktop would (a DataTransfer drop event)."""
    page.evaluate("""([selector, name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const data = new DataTransfer();
        data.items.add(new File([bytes], name, {type: "application/zip"}));
        const zone = document.querySelector(selector);
        for (const kind of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(kind, {dataTransfer: data, bubbles: true, cancelable: true}));
        }
    }""", [target, path.name, base64.b64encode(path.read_bytes()).decode()])


def make_profile(page: Page, base_url: str, name: str, artifacts: Path) -> None:
    """Create a custom profile on the profile editor: extends basic, one option, one override."""
    page.goto(f"{base_url}/ui/profiles")
    form = page.locator("#profile-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[value=rtnLongModifDatesOpt]").check()
    form.locator("textarea[name=overrides]").fill("PatientSex: K")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/ui/profiles/{name}$"))
    expect(page.locator("h1")).to_contain_text(name)
    expect(page.locator("#diff")).to_contain_text("override PatientSex")
    page.screenshot(path=str(artifacts / "profile-editor.png"))  # the top: 700 table rows below


def review_flow(page: Page, base_url: str, study: Path, profile: str, artifacts: Path) -> str:
    """Upload ``study`` on the submit page, watch it complete, open its report, open a held item side by
    side and approve it. Returns the job id."""
    artifacts.mkdir(parents=True, exist_ok=True)
    page.goto(f"{base_url}/ui/submit")
    drop_file(page, "#drop", study)
    expect(page.locator("#chosen")).to_have_text("1 file(s) chosen")
    page.select_option("#profile", profile)
    page.screenshot(path=str(artifacts / "submit.png"), full_page=True)
    page.click("#send")
    expect(page).to_have_url(re.compile(r"/ui/jobs/job-[0-9a-f]{12}$"))
    job_id = page.url.rsplit("/", 1)[-1]

    page.goto(f"{base_url}/ui/jobs")
    row = page.locator(f"tr[data-job='{job_id}']")
    expect(row).to_be_visible()
    page.screenshot(path=str(artifacts / "jobs-running.png"), full_page=True)
    # htmx polls the table: the row turns done without a reload.
    expect(row.locator(".state")).to_have_text("done", timeout=FLOW_TIMEOUT_MS)
    page.screenshot(path=str(artifacts / "jobs-done.png"), full_page=True)

    row.locator("a").click()
    expect(page.locator("#job-state")).to_have_text("done")
    expect(page.locator("svg[aria-label='objects by state'] rect")).to_have_count(4)
    page.screenshot(path=str(artifacts / "report.png"), full_page=True)
    held = page.locator("#held a")
    expect(held.first).to_be_visible()
    held.first.click()

    expect(page.locator("#item-status")).to_have_text("review")
    for image in ("#original", "#redacted"):
        expect(page.locator(image)).to_be_visible()
        # Loaded and decoded: a broken image is visible too, with no natural size.
        page.wait_for_function("s => { const i = document.querySelector(s); return i.complete && i.naturalWidth > 0; }",
                               arg=image)
    page.screenshot(path=str(artifacts / "review.png"), full_page=True)
    # Add a box, redact and verify again: the redone output is what gets approved.
    redo = page.locator("#redo-form")
    for field, value in {"x0": "60", "y0": "60", "x1": "100", "y1": "90"}.items():
        redo.locator(f"input[name={field}]").fill(value)
    redo.locator("button[type=submit]").click()
    expect(page.locator("#acts")).to_contain_text("redo", timeout=FLOW_TIMEOUT_MS)
    expect(page.locator("#regions")).to_contain_text("60, 60, 100, 90")
    page.screenshot(path=str(artifacts / "review-redone.png"), full_page=True)
    page.click("#approve")
    expect(page.locator("#item-status")).to_have_text("clean")
    expect(page.locator("#acts")).to_contain_text("approve")
    page.screenshot(path=str(artifacts / "review-approved.png"), full_page=True)
    return job_id
