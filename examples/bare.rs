//! The benchmark's reference: a bare actix-web server that answers `/hello` with "ok" and does
//! nothing else. `bench/run.py` runs it pinned like the portal, so each route's requests per
//! second can be read as a share of what actix-web alone does on this machine.
//!
//!     cargo run --release --example bare -- 127.0.0.1:8081

use actix_web::{App, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8081".to_string());
    HttpServer::new(|| App::new().route("/hello", web::get().to(|| async { "ok" })))
        .workers(1)
        .bind(address)?
        .run()
        .await
}
