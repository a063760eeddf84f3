use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use secrecy::SecretString;

use incident_portal::auth::{password, totp};
use incident_portal::cli::{Cli, Command, CreateSupportUserArgs};
use incident_portal::clock::Clock;
use incident_portal::domain::input;
use incident_portal::settings::{DatabaseSettings, Settings};
use incident_portal::startup::{Application, open_store};
use incident_portal::store::NewUser;
use incident_portal::{demo, generate, report, telemetry};

/// Each Argon2id hash borrows ~19 MiB. glibc raises its mmap threshold after the first such
/// block is freed, so later ones come from the heap and stay resident; a fixed threshold keeps
/// large blocks mmapped and returned to the system when freed. Fixing it also fixes the trim
/// threshold at 128 KiB, which would hand a compressor's few hundred KiB back to the kernel after
/// every response, to be faulted in and zeroed again by the next: blocks below the mmap
/// threshold stay with the process instead.
fn keep_large_allocations_returnable() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator tuning; called before any other thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 16 << 20);
        }
    }
}

fn main() -> ExitCode {
    incident_portal::metrics::mark_process_start();
    keep_large_allocations_returnable();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("incident-portal: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async_main());
    // A host name lookup that timed out may still be running on a blocking thread: don't wait for it.
    runtime.shutdown_background();
    code
}

async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("incident-portal: {}", report::one_line(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => {
            let settings = Settings::from_args(&args)?;
            telemetry::init(settings.database.log_format, std::io::stdout);
            let store = open_store(&settings.database).await?;
            if settings.demo {
                demo::fill_if_empty(&store, &incident_portal::startup::secret_cipher(&settings)?).await?;
            }
            let app = Application::build_with_store(settings.clone(), store.clone(), Clock::system()).await?;
            let url = app.public_url().to_string();
            let listening = std::net::SocketAddr::new(settings.bind.ip(), app.port());
            println!("Incident Portal is listening on {listening} for {url} ({} database)", store.backend_name());
            println!(
                "Notifications: {}; support administrators see them under {url}{}.",
                settings.mail,
                incident_portal::paths::DESK_NOTIFICATIONS
            );
            println!("Attachments: {}.", settings.attachments);
            if settings.demo {
                print!("{}", demo::sign_in_help(&url));
            }
            app.run_until_stopped().await?;
            Ok(())
        }
        Command::Migrate(args) => {
            let database = DatabaseSettings::from_args(&args)?;
            telemetry::init(database.log_format, std::io::stderr);
            let store = open_store(&database).await?;
            println!("The {} database is migrated.", store.backend_name());
            Ok(())
        }
        Command::CreateSupportUser(args) => create_support_user(args).await,
        Command::Generate(args) => {
            let database = DatabaseSettings::from_args(&args.database)?;
            telemetry::init(database.log_format, std::io::stderr);
            let store = open_store(&database).await?;
            let started = std::time::Instant::now();
            let summary =
                generate::generate(&store, generate::Options { tickets: args.tickets, seed: args.seed }).await?;
            println!(
                "Generated {} accounts, {} users, {} tickets, {} recipients, {} visibility rows, {} comments, {} events in {:.1} s.",
                summary.accounts,
                summary.users,
                summary.tickets,
                summary.recipients,
                summary.visibility_rows,
                summary.comments,
                summary.events,
                started.elapsed().as_secs_f64()
            );
            println!(
                "Sign in as {} (heavy), {} (typical) or {} (support), password \"{}\".",
                generate::HEAVY_USER,
                generate::TYPICAL_USER,
                generate::SUPPORT_USER,
                generate::BENCH_PASSWORD
            );
            Ok(())
        }
        Command::DemoCode => {
            let secret = totp::from_base32(demo::DEMO_TOTP_SECRET).context("the demo key is base32")?;
            println!("{}", totp::code_at(&secret, chrono::Utc::now().timestamp()));
            Ok(())
        }
    }
}

/// The password comes from `INCIDENT_PORTAL_PASSWORD` or standard input, never the command line
/// (which other users of the machine can read).
fn read_password() -> anyhow::Result<SecretString> {
    let password = match std::env::var("INCIDENT_PORTAL_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            if std::io::stdin().is_terminal() {
                eprint!("Password for the new support user (input is shown; prefer INCIDENT_PORTAL_PASSWORD): ");
            }
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    let length = password.chars().count();
    if !(input::MIN_PASSWORD_CHARS..=input::MAX_PASSWORD_CHARS).contains(&length) {
        bail!("the password must have {} to {} characters", input::MIN_PASSWORD_CHARS, input::MAX_PASSWORD_CHARS);
    }
    Ok(SecretString::from(password))
}

async fn create_support_user(args: CreateSupportUserArgs) -> anyhow::Result<()> {
    let database = DatabaseSettings::from_args(&args.database)?;
    telemetry::init(database.log_format, std::io::stderr);
    let email = args.email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        bail!("--email: \"{}\" is not an email address", args.email);
    }
    let name = args.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        bail!("--name: give the user's full name (at most 100 characters)");
    }
    let (first_name, last_name) = name.split_once(' ').unwrap_or((name, ""));
    let password = read_password()?;
    let store = open_store(&database).await?;
    let hash = password::hash_password(password).await?;
    let user = NewUser {
        account_id: None,
        email: email.clone(),
        first_name: first_name.to_string(),
        last_name: last_name.trim().to_string(),
        password_hash: Some(hash),
        support_admin: args.admin,
        time_zone: "UTC".to_string(),
        enabled: true,
    };
    match store.create_user(&user, incident_portal::clock::now()).await {
        Ok(_) => {
            let role = if args.admin { "support administrator" } else { "support agent" };
            println!("Created {role} {email}.");
            Ok(())
        }
        Err(incident_portal::store::StoreError::Duplicate(_)) => bail!("a user with the email {email} already exists"),
        Err(error) => Err(error.into()),
    }
}
