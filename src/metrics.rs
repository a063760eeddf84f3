//! The portal's Prometheus metrics: one registry per running app, which `startup` and any module
//! add their counters and gauges to, and which `/metrics` encodes. Names are prefixed
//! `incident_portal_` here, once.
//!
//! Built on `prometheus-client`, the Prometheus project's own Rust client: no global registry (the
//! tests run many apps in one process), label sets are typed structs (so recording a request
//! allocates no label string), and it encodes the text format 0.0.4 that the interface promises.
//! (tikv's `prometheus` would do too, with labels as string slices checked at run time.)
//!
//! Two kinds of value:
//! - kept as things happen: a counter or gauge a module registers at start-up and then bumps
//!   (`let sent = metrics.counter("mails_sent", "…"); … sent.inc();`);
//! - computed when scraped: a gauge set by a hook that [`Metrics::encode`] runs (and awaits)
//!   first, such as the database pool's connections or a count read from the database.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use prometheus_client::encoding::{EncodeLabelSet, prometheus_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Metric, Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s text: the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// What every name [`Metrics`] registers starts with (and `_` after it).
pub const PREFIX: &str = "incident_portal";

/// The route label of requests that matched no route: one series for every unknown path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Upper bounds of the request latency buckets, in seconds: a page takes milliseconds, a
/// database outage seconds (the acquire timeout is 3 s by default).
const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// When this process started (or first asked): `main` asks first thing.
static PROCESS_STARTED: LazyLock<SystemTime> = LazyLock::new(SystemTime::now);

/// Fixes the process's start time as now, if nothing has asked before.
pub fn mark_process_start() {
    LazyLock::force(&PROCESS_STARTED);
}

/// A gauge holding a float, for values such as seconds.
pub type FloatGauge = Gauge<f64, AtomicU64>;

type Hook = Arc<dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// The registry of one running app. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registered: Mutex<Registered>,
    hooks: Mutex<Vec<(&'static str, Hook)>>,
    hook_failures: Family<HookLabels, Counter>,
    http: HttpMetrics,
}

struct Registered {
    registry: Registry,
    /// Full names, so that a name registered twice is caught at start-up instead of being
    /// exposed twice (which scrapers reject).
    names: HashSet<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with the portal's own metrics: requests, their latency, scrape hook failures,
    /// the process's start time and the build.
    pub fn new() -> Metrics {
        let metrics = Metrics {
            inner: Arc::new(Inner {
                registered: Mutex::new(Registered { registry: Registry::default(), names: HashSet::new() }),
                hooks: Mutex::new(Vec::new()),
                hook_failures: Family::default(),
                http: HttpMetrics::new(),
            }),
        };
        let http = &metrics.inner.http;
        metrics.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status code",
            http.requests.clone(),
        );
        metrics.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its response's head, by route pattern and method",
            Unit::Seconds,
            http.durations.clone(),
        );
        metrics.register(
            "scrape_hook_failures",
            "Scrape-time values that could not be computed (the gauge keeps its last value)",
            metrics.inner.hook_failures.clone(),
        );
        metrics.register("build", "The running version", Info::new([("version", env!("CARGO_PKG_VERSION"))]));
        let started = FloatGauge::default();
        let since_epoch = PROCESS_STARTED.duration_since(UNIX_EPOCH).unwrap_or_default();
        started.set(since_epoch.as_secs_f64());
        // The name every Prometheus client uses, unprefixed, so that stock dashboards find it.
        metrics.register_named(
            "process_start_time_seconds".to_string(),
            "Start time of the process since the Unix epoch, in seconds",
            None,
            started,
        );
        metrics
    }

    /// Registers `metric` as `incident_portal_<name>`; the encoder appends `_total` to a
    /// counter's name (so `name` must not end with it) and `_bucket`, `_sum`, `_count` to a
    /// histogram's. Panics if the name is taken: two metrics of one name are a programming error,
    /// found when the app starts.
    #[track_caller]
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.register_named(format!("{PREFIX}_{name}"), help, None, metric);
    }

    /// As [`register`](Self::register), with the unit appended to the name
    /// (`incident_portal_<name>_seconds`).
    #[track_caller]
    pub fn register_with_unit(&self, name: &str, help: &str, unit: Unit, metric: impl Metric) {
        self.register_named(format!("{PREFIX}_{name}"), help, Some(unit), metric);
    }

    /// A new counter, registered as `incident_portal_<name>_total`.
    #[track_caller]
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let counter = Counter::default();
        self.register(name, help, counter.clone());
        counter
    }

    /// A new gauge, registered as `incident_portal_<name>`.
    #[track_caller]
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        let gauge = Gauge::default();
        self.register(name, help, gauge.clone());
        gauge
    }

    /// Runs `hook` before every scrape, to set gauges whose value is read then (from the database,
    /// the pool). Hooks run one after another inside the `/metrics` request, so a store query
    /// uses that request's connection. A failing hook is logged and counted, and the scrape goes
    /// on; a hook that may wait long should bound its wait itself.
    pub fn on_scrape<F, Fut>(&self, name: &'static str, hook: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let hook: Hook = Arc::new(move || Box::pin(hook()));
        lock(&self.inner.hooks).push((name, hook));
    }

    /// The request counters and latency histograms, which the request middleware feeds.
    pub fn http(&self) -> &HttpMetrics {
        &self.inner.http
    }

    /// Runs the scrape hooks, then encodes every metric in the Prometheus text format.
    pub async fn encode(&self) -> String {
        let hooks = lock(&self.inner.hooks).clone();
        for (name, hook) in hooks {
            if let Err(error) = hook().await {
                tracing::warn!(hook = name, ?error, "a scrape-time metric could not be computed");
                self.inner.hook_failures.get_or_create(&HookLabels { hook: name }).inc();
            }
        }
        let registered = lock(&self.inner.registered);
        let mut text = String::with_capacity(32 * 1024);
        prometheus_text::encode(&mut text, &registered.registry).expect("writing to a String cannot fail");
        text
    }

    #[track_caller]
    fn register_named(&self, name: String, help: &str, unit: Option<Unit>, metric: impl Metric) {
        let mut registered = lock(&self.inner.registered);
        let full = match &unit {
            Some(unit) => format!("{name}_{}", unit.as_str()),
            None => name.clone(),
        };
        assert!(registered.names.insert(full.clone()), "the metric {full} is registered twice");
        match unit {
            Some(unit) => registered.registry.register_with_unit(name, help, unit, metric),
            None => registered.registry.register(name, help, metric),
        }
    }
}

/// A panic elsewhere while a lock was held leaves nothing half-done here: carry on.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
    method: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Requests by route pattern. Labels are `&'static str` (a registered pattern, or
/// [`UNMATCHED_ROUTE`]; a known method name) and the status number, so the number of series is
/// bounded by the routes, never by the paths clients send.
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    fn new() -> HttpMetrics {
        HttpMetrics {
            requests: Family::default(),
            durations: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        }
    }

    /// Counts one answered request and its latency.
    pub fn record(&self, route: &'static str, method: &'static str, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { route, method, status }).inc();
        self.durations.get_or_create(&RouteLabels { route, method }).observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
    }

    #[tokio::test]
    async fn requests_are_counted_and_timed_by_route_pattern() {
        let metrics = Metrics::new();
        for status in [200, 200, 404] {
            metrics.http().record("/security/incidents/{number}", "GET", status, Duration::from_millis(3));
        }
        let text = metrics.encode().await;
        let counted = "incident_portal_http_requests_total{route=\"/security/incidents/{number}\",method=\"GET\"";
        assert_eq!(sample(&text, &format!("{counted},status=\"200\"}}")), Some("2"), "{text}");
        assert_eq!(sample(&text, &format!("{counted},status=\"404\"}}")), Some("1"), "{text}");
        let timed = "incident_portal_http_request_duration_seconds_bucket{route=\"/security/incidents/{number}\",method=\"GET\"";
        assert_eq!(sample(&text, &format!("{timed},le=\"0.0025\"}}")), Some("0"), "{text}");
        assert_eq!(sample(&text, &format!("{timed},le=\"0.005\"}}")), Some("3"), "{text}");
        assert!(text.contains("# TYPE incident_portal_http_requests_total counter"), "{text}");
        assert!(text.contains("# TYPE incident_portal_http_request_duration_seconds histogram"), "{text}");
        assert!(text.contains("incident_portal_build_info{version=\""), "{text}");
        let started: f64 = sample(&text, "process_start_time_seconds").unwrap().parse().unwrap();
        assert!(started > 1.7e9, "{started}");
    }

    #[tokio::test]
    async fn modules_register_counters_and_gauges_computed_at_scrape_time() {
        let metrics = Metrics::new();
        let sent = metrics.counter("mails_sent", "Mails handed to the SMTP server");
        sent.inc_by(2);
        let depth = metrics.gauge("outbox_depth", "Messages waiting to be sent");
        let scrapes = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let seen = Arc::clone(&scrapes);
        metrics.on_scrape("outbox", move || {
            let depth = depth.clone();
            let seen = Arc::clone(&seen);
            async move {
                tokio::task::yield_now().await;
                depth.set(seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 10);
                Ok(())
            }
        });
        let first = metrics.encode().await;
        assert_eq!(sample(&first, "incident_portal_mails_sent_total"), Some("2"), "{first}");
        assert_eq!(sample(&first, "incident_portal_outbox_depth"), Some("10"), "{first}");
        let second = metrics.encode().await;
        assert_eq!(sample(&second, "incident_portal_outbox_depth"), Some("11"), "the hook runs at every scrape");
    }

    #[tokio::test]
    async fn a_failing_hook_is_counted_and_the_scrape_goes_on() {
        let metrics = Metrics::new();
        let kept = metrics.gauge("kept", "A gauge of its own");
        kept.set(7);
        metrics.on_scrape("broken", || async { anyhow::bail!("the database is away") });
        let text = metrics.encode().await;
        assert_eq!(sample(&text, "incident_portal_scrape_hook_failures_total{hook=\"broken\"}"), Some("1"), "{text}");
        assert_eq!(sample(&text, "incident_portal_kept"), Some("7"), "{text}");
    }

    #[test]
    #[should_panic(expected = "incident_portal_outbox_depth is registered twice")]
    fn a_name_registered_twice_stops_the_start() {
        let metrics = Metrics::new();
        metrics.gauge("outbox_depth", "Messages waiting");
        metrics.gauge("outbox_depth", "Messages waiting, again");
    }
}
