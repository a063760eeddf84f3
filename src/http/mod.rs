//! The web layer: routes, middleware and thin handlers (extract → parse → ask the domain and the
//! store → build a view → respond).

pub mod api;
pub mod api_keys;
pub mod attachments;
pub mod audit;
pub mod compression;
pub mod context;
pub mod csrf;
pub mod dashboard;
pub mod desk;
pub mod health;
pub mod home;
pub mod identity;
pub mod metrics;
pub mod middleware;
pub mod notification_settings;
pub mod password;
pub mod password_links;
pub mod profile;
pub mod respond;
pub mod routes;
pub mod sign_in;
pub mod static_files;
pub mod tables;
pub mod throttle;
pub mod ticket_forms;
pub mod ticket_page;
pub mod tickets;
pub mod two_factor;
pub mod unsubscribe;
pub mod uploads;
pub mod webhooks;
