//! The portal in headless Chromium, driven over WebDriver as a user would. Screenshots are saved
//! under `target/screenshots/` for a person to look at.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1366,1300",
];

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    screenshots: PathBuf,
    prefix: String,
}

impl Drop for Browser {
    /// ChromeDriver runs in a process group of its own with the Chromium it starts: ending the
    /// group ends them all, even when a test failed half-way.
    fn drop(&mut self) {
        const SIGKILL: i32 = 9;
        let group = i32::try_from(self.driver.id()).unwrap_or(0);
        if group > 1 {
            // SAFETY: signals the process group that `process_group(0)` made for ChromeDriver.
            unsafe {
                kill(-group, SIGKILL);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

unsafe extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
}

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file()).or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path).flat_map(|dir| candidates.iter().map(move |c| dir.join(c))).find(|p| p.is_file())
    })
}

/// Starts ChromeDriver and a headless Chromium session; `None` (a skip) when they are not
/// installed, unless `INCIDENT_PORTAL_TEST_REQUIRE` includes `browser`.
pub async fn start_browser(prefix: &str) -> Option<Browser> {
    start_browser_downloading_to(prefix, None).await
}

/// As [`start_browser`], saving downloads to `downloads` without asking.
pub async fn start_browser_downloading_to(prefix: &str, downloads: Option<&std::path::Path>) -> Option<Browser> {
    let driver_path = find_program(&["/usr/bin/chromedriver", "chromedriver"]);
    let chromium_path = find_program(&["/usr/bin/chromium", "chromium", "chromium-browser"]);
    let (Some(driver_path), Some(chromium_path)) = (driver_path, chromium_path) else {
        assert!(!required("browser"), "the browser tests are required but chromium or chromedriver is missing");
        eprintln!("skipped: chromium and chromedriver are not installed");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = Command::new(driver_path)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut capabilities = serde_json::Map::new();
    let mut options = json!({ "binary": chromium_path, "args": args });
    if let Some(downloads) = downloads {
        options["prefs"] = json!({
            "download.default_directory": downloads,
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
        });
    }
    capabilities.insert("goog:chromeOptions".into(), options);
    let webdriver = format!("http://127.0.0.1:{port}");
    let mut last_error = None;
    for _ in 0..50 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&webdriver).await {
            Ok(client) => {
                let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
                std::fs::create_dir_all(&screenshots).unwrap();
                return Some(Browser { client, driver, _profile: profile, screenshots, prefix: prefix.to_string() });
            }
            Err(error) => {
                last_error = Some(error);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("could not start a browser session: {last_error:?}");
}

impl Browser {
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.screenshots.join(format!("{}-{name}.png", self.prefix)), png).unwrap();
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigation");
    }

    pub async fn text(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page")).text().await.unwrap()
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css} on the page"))
            .click()
            .await
            .unwrap();
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("{css} on the page"));
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.unwrap();
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        }
    }

    pub async fn sign_in(&self, app: &TestApp, email: &str) {
        self.goto(&app.url("/login")).await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("form.stacked-form button[type=submit]").await;
        if is_staff(email) {
            // Staff type the code from their authenticator app (the next 30-second step's).
            self.client.wait().for_element(Locator::Css("#verify-heading")).await.expect("asked for a code");
            app.clock.advance(chrono::Duration::seconds(30));
            self.fill("#code", &demo_code(&app.clock)).await;
            self.click("form.stacked-form button[type=submit]").await;
        }
        self.client.wait().for_element(Locator::Css(".user-menu")).await.expect("signed in");
    }

    pub async fn sign_out(&self) {
        self.click(".user-menu button[type=submit]").await;
        self.client.wait().for_element(Locator::Css("#login-heading")).await.expect("back on the sign-in page");
    }

    pub async fn column(&self, index: usize) -> Vec<String> {
        let mut values = Vec::new();
        for cell in self
            .client
            .find_all(Locator::Css(&format!("table.incidents tbody tr td:nth-child({index})")))
            .await
            .unwrap()
        {
            values.push(cell.text().await.unwrap());
        }
        values
    }
}

async fn a_customer_browses_sorts_filters_and_opens_an_incident(app: TestApp) {
    let prefix = format!("customer-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    browser.goto(&app.url("/")).await;
    browser.screenshot("01-sign-in").await;
    browser.sign_in(&app, TESS).await;
    assert_eq!(browser.path().await, "/security/incidents");
    assert_eq!(browser.text("h1").await, "Security Incidents");
    browser.screenshot("02-security-incidents").await;

    // Sorted by severity, Critical first, by default; one click turns it around, another back.
    let severity_header = "table.incidents th:nth-child(3)";
    let header = browser.client.find(Locator::Css(severity_header)).await.unwrap();
    assert_eq!(header.attr("aria-sort").await.unwrap().as_deref(), Some("descending"));
    browser.click(&format!("{severity_header} a")).await;
    browser.client.wait().for_element(Locator::Css("th[aria-sort=ascending]")).await.unwrap();
    assert_eq!(browser.column(3).await.first().map(String::as_str), Some("Low"));
    browser.click(&format!("{severity_header} a")).await;
    browser.client.wait().for_element(Locator::Css("th[aria-sort=descending]")).await.unwrap();
    assert_eq!(browser.column(3).await.first().map(String::as_str), Some("Critical"));
    browser.screenshot("03-sorted-by-severity").await;

    // Filter to Critical with the form; the state lands in the URL.
    browser.click("input[name=severity][value=Critical]").await;
    browser.click("form.filters button[type=submit]").await;
    // The server renders the box ticked only on the new page.
    browser.client.wait().for_element(Locator::Css("input[name=severity][value=Critical][checked]")).await.unwrap();
    assert!(browser.path().await.contains("severity=Critical"), "{}", browser.path().await);
    let severities = browser.column(3).await;
    assert!(!severities.is_empty() && severities.iter().all(|s| s == "Critical"), "{severities:?}");
    browser.screenshot("04-filtered-to-critical").await;

    // Open the first incident.
    let number = browser.text("table.incidents tbody tr td:first-child a").await;
    browser.click("table.incidents tbody tr td:first-child a").await;
    browser.client.wait().for_element(Locator::Css("article.incident")).await.unwrap();
    assert_eq!(browser.path().await, format!("/security/incidents/{number}"));
    assert_eq!(browser.text(".incident-number").await, number);
    browser.screenshot("05-incident").await;

    browser.sign_out().await;
    assert_eq!(browser.text("p.notice").await, "You have signed out.");
    browser.screenshot("06-signed-out").await;
    browser.goto(&app.url("/security/incidents")).await;
    assert!(browser.path().await.starts_with("/login"), "signed out for real");
}

async fn support_staff_and_refused_customers_see_their_pages(app: TestApp) {
    let prefix = format!("support-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    browser.sign_in(&app, SAM).await;
    assert_eq!(browser.path().await, "/desk/queue");
    assert_eq!(browser.text("table.incidents th:nth-child(2)").await, "Account");
    browser.screenshot("01-incident-queue").await;
    browser.click("table.incidents tbody tr td:first-child a").await;
    browser.client.wait().for_element(Locator::Css("article.incident")).await.unwrap();
    browser.screenshot("02-incident").await;
    // The desk's dashboard counts every account's incidents.
    browser.goto(&app.url("/security/dashboard")).await;
    assert!(browser.text("#activity-chart-heading").await.contains("last 30 days"));
    browser.screenshot("03-dashboard").await;
    browser.sign_out().await;

    browser.sign_in(&app, BILLIE).await;
    assert_eq!(browser.path().await, "/support/tickets", "a billing user lands on the page they may open");
    browser.goto(&app.url("/security/incidents")).await;
    assert!(browser.text("main").await.contains("Read Dashboard Statistics"));
    browser.screenshot("04-missing-permission").await;
    // Error pages are rendered outside the session layer; their sign-out button still works.
    browser.sign_out().await;
    browser.goto(&app.url("/support/tickets")).await;
    assert!(browser.path().await.starts_with("/login"), "signed out from the 403 page for real");
    browser.sign_in(&app, TESS).await;
    for missing in ["/security/incidents/ATS-99999999", "/no/such/page"] {
        browser.goto(&app.url(missing)).await;
        assert_eq!(browser.text("#error-heading").await, "Page not found");
        browser.screenshot("05-not-found").await;
        browser.sign_out().await;
        browser.goto(&app.url("/security/incidents")).await;
        assert!(browser.path().await.starts_with("/login"), "signed out from {missing} for real");
        browser.sign_in(&app, TESS).await;
    }
}

async fn an_incident_goes_from_ticket_to_closure_in_the_browser(app: TestApp) {
    let prefix = format!("lifecycle-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };

    // Tess opens a ticket naming Riley as a recipient.
    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url("/support/tickets")).await;
    browser.click("a[href='/support/tickets/new']").await;
    browser.fill("#summary", "Beaconing to a known C2 domain from fileserver-9").await;
    browser.fill("#description", "Our proxy logs show regular requests every 60 seconds.").await;
    let riley = app.user_id(RILEY).await;
    browser.click(&format!("input[name=recipient][value='{riley}']")).await;
    browser.screenshot("01-customer-opens-ticket").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("article.incident")).await.unwrap();
    let number = browser.text(".incident-number").await;
    assert!(browser.text(".flash").await.contains(&number));
    browser.sign_out().await;

    // Support labels it Critical.
    browser.sign_in(&app, SAM).await;
    browser.goto(&app.url(&format!("/support/tickets/{number}"))).await;
    browser.client.find(Locator::Css("#desk-severity")).await.unwrap().select_by_value("Critical").await.unwrap();
    browser.click("form[action$='/severity'] button").await;
    browser.client.wait().for_element(Locator::Css(".incident-badges .sev-critical")).await.unwrap();
    browser.screenshot("02-support-labels-critical").await;
    browser.sign_out().await;

    // Riley, a recipient, sees it under Security Incidents and asks for closure.
    browser.sign_in(&app, RILEY).await;
    browser.goto(&app.url(&format!("/security/incidents?q={number}"))).await;
    assert_eq!(browser.column(1).await, vec![number.clone()]);
    browser.screenshot("03-recipient-sees-incident").await;
    browser.click("table.incidents tbody tr td:first-child a").await;
    browser.client.wait().for_element(Locator::Css("#comment-body")).await.unwrap();
    browser.fill("#comment-body", "We blocked the domain and reimaged fileserver-9.").await;
    browser.click("input[name=request_closure]").await;
    browser.click("form.comment-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert!(browser.text(".incident-badges").await.contains("Closure requested"));
    browser.screenshot("04-closure-requested").await;
    browser.sign_out().await;

    // Support finds it under "closure requested" and declines with a reason.
    browser.sign_in(&app, SAM).await;
    browser.click("a.count-closure").await;
    browser.client.wait().for_element(Locator::Css("input[name=closure][checked]")).await.unwrap();
    assert!(browser.column(1).await.contains(&number), "the queue's closure-requested filter lists it");
    browser.screenshot("05-queue-closure-requested").await;
    browser.goto(&app.url(&format!("/support/tickets/{number}"))).await;
    browser.fill("#decline-reason", "Please also rotate the service account password before we close.").await;
    browser.click("form[action$='/decline-closure'] button").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    browser.sign_out().await;

    // Riley sees the reason and asks again.
    browser.sign_in(&app, RILEY).await;
    browser.goto(&app.url(&format!("/security/incidents/{number}"))).await;
    assert!(browser.text(".comments").await.contains("rotate the service account password"));
    assert!(!browser.text(".incident-badges").await.contains("Closure requested"));
    browser.screenshot("06-customer-sees-reason").await;
    browser.fill("#comment-body", "Rotated. Please close.").await;
    browser.click("input[name=request_closure]").await;
    browser.click("form.comment-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    browser.sign_out().await;

    // Support closes it with a resolution.
    browser.sign_in(&app, SAM).await;
    browser.goto(&app.url(&format!("/support/tickets/{number}"))).await;
    browser.fill("#resolution", "Verified: C2 traffic stopped, credentials rotated.").await;
    browser.click("form[action$='/close'] button").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert!(browser.text(".incident-badges").await.contains("Closed"));
    browser.screenshot("07-support-closes").await;
    browser.sign_out().await;

    // Gone from Security Incidents; Closed under Support > Tickets, with its whole history.
    browser.sign_in(&app, RILEY).await;
    browser.goto(&app.url(&format!("/security/incidents?q={number}"))).await;
    assert!(browser.column(1).await.is_empty());
    browser.goto(&app.url(&format!("/support/tickets?q={number}"))).await;
    assert_eq!(browser.column(1).await, vec![number.clone()]);
    assert!(browser.column(4).await[0].starts_with("Closed"));
    browser.click("table.incidents tbody tr td:first-child a").await;
    browser.client.wait().for_element(Locator::Css(".history")).await.unwrap();
    let history = browser.text(".history").await;
    for step in [
        "opened the ticket",
        "labelled it a security incident, severity Critical",
        "requested closure",
        "declined the closure request",
        "closed the ticket",
    ] {
        assert!(history.contains(step), "history shows {step:?}: {history}");
    }
    browser.screenshot("08-closed-with-history").await;
}

async fn support_administrators_manage_accounts_staff_and_tickets_in_the_browser(app: TestApp) {
    let prefix = format!("desk-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    browser.sign_in(&app, MORGAN).await;
    browser.goto(&app.url("/desk/accounts")).await;
    assert!(browser.text("table.data").await.contains("Northwind Health"));
    browser.screenshot("01-accounts").await;
    browser.click("a[href='/desk/accounts/new']").await;
    browser.fill("#name", "Initech").await;
    browser.fill("#number", "100888").await;
    browser.fill("#first_name", "Peter").await;
    browser.fill("#last_name", "Gibbons").await;
    browser.fill("#email", "peter@initech.example").await;
    browser.screenshot("02-new-account").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert!(browser.text(".flash").await.contains("/password/set?token="));
    browser.screenshot("03-account-created-with-link").await;

    browser.goto(&app.url("/desk/staff")).await;
    browser.screenshot("04-staff").await;
    browser.goto(&app.url("/desk/audit")).await;
    assert!(browser.text("table.audit").await.contains("account_created"));
    browser.screenshot("05-audit-log").await;

    browser.goto(&app.url("/desk/tickets/new?account=100234")).await;
    let tess = app.user_id(TESS).await.to_string();
    browser.client.find(Locator::Css("#opener")).await.unwrap().select_by_value(&tess).await.unwrap();
    browser.fill("#summary", "Phishing campaign reported by the customer by phone").await;
    browser.screenshot("06-open-ticket-on-behalf").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("article.incident")).await.unwrap();
    browser.screenshot("07-ticket-opened-on-behalf").await;
    browser.sign_out().await;

    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url("/support/tickets")).await;
    assert!(browser.text("table.incidents").await.contains("Phishing campaign reported by the customer by phone"));
    browser.screenshot("08-customer-support-tickets").await;
}

async fn the_dashboard_shows_a_new_critical_incident_without_a_reload(app: TestApp) {
    use incident_portal::domain::lifecycle::Change;
    use incident_portal::domain::ticket::Severity;
    let prefix = format!("dashboard-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url("/security/dashboard")).await;
    let critical_tile = browser.text(".tile-critical .tile-count").await;
    let expected = app
        .api_get(&app.api_key_for(TESS).await, "/api/v1/security-incidents/severity-count")
        .await
        .json::<serde_json::Value>()
        .await
        .unwrap()["totalCriticalStatus"]
        .to_string();
    assert_eq!(critical_tile, expected, "the tile shows the count");
    browser.screenshot("01-dashboard").await;

    // Support labels a new ticket of Tess's Critical while the page stays open.
    let ticket = app.fresh_incident().await;
    let sam = app.user_id(SAM).await;
    app.store
        .change_ticket(ticket.id, sam, None, None, &[Change::SetSeverity(Some(Severity::Critical))], app.clock.now())
        .await
        .unwrap();
    let selector = format!(".critical-list a[href='/security/incidents/{}']", ticket.number);
    browser
        .client
        .wait()
        .at_most(std::time::Duration::from_secs(10))
        .for_element(Locator::Css(&selector))
        .await
        .expect("the panel refreshes by itself");
    let announced = browser.text("#dashboard-announcer").await;
    assert!(announced.contains("Critical"), "{announced}");
    // The severity chart's top bar (Critical) moved with the tile.
    let tile = browser.text(".tile-critical .tile-count").await;
    assert_ne!(tile, critical_tile, "the tile counts the new incident");
    assert_eq!(browser.text(".charts .chart-value").await, tile, "the chart agrees with the tile");
    browser.screenshot("02-new-critical-appears").await;

    browser.goto(&app.url("/account/api-keys")).await;
    browser.fill("#key-name", "SIEM integration").await;
    browser.click("form.inline-fields button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".secret-card")).await.unwrap();
    browser.screenshot("03-api-key-created").await;
    browser.goto(&app.url("/docs/api")).await;
    browser.screenshot("04-api-docs").await;
    browser.sign_out().await;
    browser.sign_in(&app, DANA).await;
    browser.goto(&app.url("/security/dashboard")).await;
    browser.screenshot("05-dashboard-without-read-ticket").await;
}

async fn an_administrator_grants_incident_access_to_a_new_user_in_the_browser(app: TestApp) {
    let prefix = format!("admin-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    browser.sign_in(&app, AVERY).await;

    // A role with exactly the two permissions the incidents screen needs.
    browser.goto(&app.url("/account/roles")).await;
    browser.screenshot("01-roles").await;
    browser.fill("#role-name", "Incident responders").await;
    browser.click("input[name=permission][value=read_ticket]").await;
    browser.click("input[name=permission][value=read_dashboard_statistics]").await;
    browser.click("form[action='/account/roles'] button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("#role-heading")).await.unwrap();
    assert!(browser.text("#role-heading").await.contains("Incident responders"));
    browser.click("details.unlocks summary").await;
    browser.screenshot("02-role-created").await;

    // A user with that role; the one-time link is shown to the administrator.
    browser.goto(&app.url("/account/users/new")).await;
    browser.fill("#first_name", "Omar").await;
    browser.fill("#last_name", "Haddad").await;
    browser.fill("#email", "omar@northwind.example").await;
    let account = app.principal(AVERY).await.account().unwrap().id;
    let role =
        app.count(&format!("SELECT id FROM roles WHERE account_id = {account} AND name = 'Incident responders'")).await;
    browser.click(&format!("input[name=role][value='{role}']")).await;
    browser.screenshot("03-new-user").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    let flash = browser.text(".flash").await;
    let link = flash[flash.find("http").expect("a link")..].trim().to_string();
    browser.screenshot("04-user-added-with-link").await;
    browser.sign_out().await;

    // Tess names Omar on one of her incidents; Omar sets his password and sees it.
    let omar = app.user_id("omar@northwind.example").await;
    let ticket = app.fresh_incident().await;
    app.store.add_recipient(ticket.id, omar, "Omar Haddad", app.user_id(TESS).await, app.clock.now()).await.unwrap();
    browser.goto(&link).await;
    browser.fill("#password", "omar's own password").await;
    browser.fill("#confirmation", "omar's own password").await;
    browser.screenshot("05-set-password").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("p.notice")).await.unwrap();
    browser.fill("#email", "omar@northwind.example").await;
    browser.fill("#password", "omar's own password").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".user-menu")).await.unwrap();
    browser.goto(&app.url("/security/incidents")).await;
    assert_eq!(browser.column(1).await, vec![ticket.number.clone()]);
    browser.screenshot("06-new-user-sees-incident").await;
    browser.goto(&app.url("/account/profile")).await;
    browser.screenshot("07-profile").await;
}

async fn a_customer_turns_on_two_factor_sign_in_and_signs_in_with_a_code(app: TestApp) {
    let prefix = format!("two-factor-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url("/account/profile")).await;
    browser.click("a[href='/account/profile/two-factor']").await;
    browser.client.wait().for_element(Locator::Css("#enrol-heading")).await.expect("the set-up page");
    browser.screenshot("01-enrol").await;
    let typed = browser.text("#totp-secret").await;
    let secret = incident_portal::auth::totp::from_base32(&typed.replace(' ', "")).expect("the key as shown");
    app.clock.advance(chrono::Duration::seconds(30));
    browser.fill("#code", &incident_portal::auth::totp::code_at(&secret, app.clock.now().timestamp())).await;
    browser.click("form[action='/account/profile/two-factor'] button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("#recovery-codes")).await.expect("the recovery codes");
    assert_eq!(browser.client.find_all(Locator::Css("#recovery-codes li")).await.unwrap().len(), 10);
    browser.screenshot("02-recovery-codes").await;
    browser.sign_out().await;

    // Signing in now asks for the code after the password.
    browser.fill("#email", TESS).await;
    browser.fill("#password", PASSWORD).await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("#verify-heading")).await.expect("asked for a code");
    browser.fill("#code", "000000").await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css("#verify-error")).await.expect("a wrong code is refused");
    browser.screenshot("03-wrong-code").await;
    app.clock.advance(chrono::Duration::seconds(30));
    browser.fill("#code", &incident_portal::auth::totp::code_at(&secret, app.clock.now().timestamp())).await;
    browser.click("form.stacked-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".user-menu")).await.expect("signed in");
    browser.goto(&app.url("/account/profile/two-factor")).await;
    browser.screenshot("04-on").await;
    browser.sign_out().await;

    // Administrators see who has it, require it, and support sees its staff's.
    browser.sign_in(&app, AVERY).await;
    browser.goto(&app.url("/account/users")).await;
    browser.screenshot("05-users").await;
    browser.sign_out().await;
    browser.sign_in(&app, MORGAN).await;
    browser.goto(&app.url("/desk/staff")).await;
    browser.screenshot("06-staff").await;
}

async fn a_customer_chooses_notifications_and_mutes_a_ticket_and_the_desk_reads_the_mails(app: TestApp) {
    let prefix = format!("notifications-{}", if app.store.backend_name() == "SQLite" { "sqlite" } else { "postgres" });
    let Some(browser) = start_browser(&prefix).await else { return };
    let ticket = app.fresh_incident().await;
    browser.sign_in(&app, TESS).await;
    browser.goto(&app.url("/account/profile")).await;
    assert!(browser.text("#notifications-summary").await.contains("right away about every kind of change"));
    browser.screenshot("01-profile").await;
    browser.click("a[href='/account/profile/notifications']").await;
    browser.client.wait().for_element(Locator::Css("form.settings-form")).await.expect("the settings page");
    assert!(browser.text(".callout").await.contains("Closures and Critical incidents are always sent"));
    browser.screenshot("02-defaults").await;

    // Replies off, High and above, a digest at 07:00 New York time.
    browser.click("input[name=kind][value=support_comment]").await;
    browser.client.find(Locator::Css("#threshold")).await.unwrap().select_by_value("high").await.unwrap();
    browser.click("input[name=delivery][value=digest]").await;
    browser.client.find(Locator::Css("#digest-hour")).await.unwrap().select_by_value("7").await.unwrap();
    browser.screenshot("03-chosen").await;
    browser.click("form.settings-form button[type=submit]").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert_eq!(browser.text(".flash").await, "Your notification settings are saved.");
    let box_checked = |value: &str| format!("input[name=kind][value={value}]:checked");
    assert!(browser.client.find(Locator::Css(&box_checked("support_comment"))).await.is_err(), "replies stay off");
    assert!(browser.client.find(Locator::Css(&box_checked("labelled"))).await.is_ok());
    browser.screenshot("04-saved").await;
    browser.goto(&app.url("/account/profile")).await;
    assert!(browser.text("#notifications-summary").await.contains("daily digest at 07:00 (America/New_York)"));

    // "Don't notify me" on one incident, then the page says how to turn it on again.
    browser.goto(&app.url(&format!("/security/incidents/{}", ticket.number))).await;
    assert_eq!(browser.text(".notify-toggle button").await, "Don't notify me");
    browser.screenshot("05-incident-with-toggle").await;
    browser.click(".notify-toggle button").await;
    browser.client.wait().for_element(Locator::Css(".flash")).await.unwrap();
    assert_eq!(browser.path().await, format!("/security/incidents/{}", ticket.number));
    assert_eq!(browser.text(".notify-toggle button").await, "Notify me");
    browser.screenshot("06-incident-muted").await;
    browser.sign_out().await;

    // Riley takes a daily digest; support replies: Billie's mail is recorded at once, Riley's waits.
    let riley = app.user_id(RILEY).await;
    let digest = incident_portal::domain::notify::Preferences { digest: true, ..Default::default() };
    let settings = incident_portal::store::NotificationSettings { preferences: digest, digest_hour: 8 };
    app.store.save_notification_settings(riley, &settings).await.unwrap();
    let reply = incident_portal::store::CommentInput {
        body: "Please rotate the VPN credentials.".into(),
        internal: false,
        submission_key: None,
    };
    let sam = app.user_id(SAM).await;
    app.store.change_ticket(ticket.id, sam, None, Some(&reply), &[], app.clock.now()).await.unwrap();
    let waiting = "SELECT COUNT(*) FROM notification_deliveries WHERE state = 'pending' AND digest = TRUE";
    let started = std::time::Instant::now();
    while app.count(waiting).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(20), "Riley's reply waits for the digest");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A support administrator reads what the portal recorded (mail is off in the tests).
    browser.sign_in(&app, MORGAN).await;
    browser.click("a[href='/desk/notifications']").await;
    browser.client.wait().for_element(Locator::Css("table.deliveries")).await.expect("the desk's notifications");
    assert!(browser.text(".callout").await.contains("Mail is off"));
    let table = browser.text("table.deliveries").await;
    assert!(table.contains("Recorded, not sent") && table.contains("Waiting for the digest"), "{table}");
    assert_eq!(browser.text("#outbox-waiting").await, "1", "Riley's digest entry waits");
    browser.screenshot("07-desk-notifications").await;
    browser.click("table.deliveries td a[href^='/desk/notifications/']").await;
    browser.client.wait().for_element(Locator::Css(".mail-text")).await.expect("one mail to read");
    assert!(browser.text(".mail-text").await.contains("View Request"));
    browser.screenshot("08-one-mail").await;
    browser.goto(&app.url("/account/profile/notifications")).await;
    browser.screenshot("09-staff-notifications").await;
}

on_both_backends!(
    a_customer_chooses_notifications_and_mutes_a_ticket_and_the_desk_reads_the_mails,
    a_customer_browses_sorts_filters_and_opens_an_incident,
    support_staff_and_refused_customers_see_their_pages,
    an_incident_goes_from_ticket_to_closure_in_the_browser,
    support_administrators_manage_accounts_staff_and_tickets_in_the_browser,
    the_dashboard_shows_a_new_critical_incident_without_a_reload,
    an_administrator_grants_incident_access_to_a_new_user_in_the_browser,
    a_customer_turns_on_two_factor_sign_in_and_signs_in_with_a_code,
);
