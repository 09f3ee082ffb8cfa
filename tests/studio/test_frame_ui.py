"""Studio's page frame in Chromium: signing in with a password, the overview, the audit log, the
users page for an admin and its refusal for a viewer."""

from __future__ import annotations


def test_signing_in_with_a_password_shows_the_overview(page, studio):
    page.goto(studio.url)
    page.wait_for_selector("#sign-in")
    page.screenshot_as("sign-in")
    page.fill("#sign-in-name", "scientist")
    page.fill("#sign-in-password", "wrong-password")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#sign-in .error")
    assert "Wrong user name or password" in page.inner_text("#sign-in .error")
    page.fill("#sign-in-password", "scientist-password")
    page.click("#sign-in button[type=submit]")
    page.wait_for_selector("#recent-changes table")
    assert "scientist" in page.inner_text("#who")
    assert page.inner_text("#stat-datasets b") == "0"
    assert page.inner_text("#stat-endpoints b") == "0"
    page.screenshot_as("overview")
    page.click("#sign-out")
    page.wait_for_selector("#sign-in")
    page.assert_no_errors(r"401")


def test_an_admin_adds_a_user_and_sees_it_in_the_audit_log(page, ws):
    page.sign_in("admin", "/users")
    page.wait_for_selector("#users-table tbody tr")
    page.fill("#new-user-name", "erin")
    page.select_option("#new-user-role", "approver")
    page.click("#add-user button[type=submit]")
    page.wait_for_selector("#users-table td:text-is('erin')")
    assert ws.users.get("erin").role == "approver"
    page.screenshot_as("users")
    page.open("/audit")
    page.wait_for_selector("#audit-table span:text-is('users.add')")
    row = page.inner_text("#audit-table tbody tr:first-child")
    assert "admin (studio)" in row and "erin" in row
    page.screenshot_as("audit")
    page.assert_no_errors()


def test_a_viewer_does_not_see_the_users_page(page):
    page.sign_in("viewer", "/users")
    assert page.locator("nav a[data-nav=users]").is_hidden()
    page.wait_for_selector("main .error")
    assert "admin role" in page.inner_text("main .error")
    page.assert_no_errors()


def test_an_unknown_page_says_so(page):
    page.sign_in("viewer", "/no/such/page")
    assert "No Studio page at" in page.inner_text("main")
    page.assert_no_errors()


def test_an_admin_creates_and_revokes_an_api_key_on_the_users_page(page, ws):
    page.sign_in("admin", "/users")
    page.wait_for_selector("#keys-table td:text-is('No API keys yet.')")
    page.fill("#new-key-name", "batch client")
    page.click("#add-key button[type=submit]")
    page.wait_for_selector("#new-key")
    assert page.inner_text("#new-key").startswith("kiln_key-")
    page.click("#keys-table button:text-is('Revoke')")
    page.wait_for_selector("#keys-table td:has-text('revoked')")
    assert ws.keys.list()[0].revoked
    page.assert_no_errors()


def test_a_session_that_expires_mid_action_shows_the_sign_in_form_and_changes_nothing(page, ws):
    from datetime import timedelta

    from sqlalchemy import update

    from kiln.store import UserTokenRow, now

    page.sign_in("admin", "/users")
    page.wait_for_selector("#users-table tbody tr")
    with ws.store.write() as session:
        session.execute(update(UserTokenRow).values(expires_at=now() - timedelta(seconds=1)))
    page.fill("#new-user-name", "late")
    page.click("#add-user button[type=submit]")
    page.wait_for_selector("#sign-in .error")
    assert "session has expired" in page.inner_text("#sign-in .error")
    assert "late" not in [u.name for u in ws.users.list()]
    page.assert_no_errors(r"status of 401")
