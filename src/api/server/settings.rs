//! The facade's settings: each from the environment or the flag of the same name.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::billing::settings::{LifecycleArgs, StripeArgs};
use crate::crypto::EncryptionArgs;
use crate::db::DatabaseArgs;

/// Where the facade runs: development also lets any `http://localhost:*` origin call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Production rules.
    Production,
    /// Local development.
    Development,
}

/// `fasterclaw api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The database.
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The keys that seal stored tokens.
    #[command(flatten)]
    pub encryption: EncryptionArgs,

    /// Stripe.
    #[command(flatten)]
    pub stripe: StripeArgs,

    /// The billing lifecycle.
    #[command(flatten)]
    pub lifecycle: LifecycleArgs,
    /// Sign-in with Google.
    #[command(flatten)]
    pub google: GoogleArgs,

    /// Secret that signs session tokens (HS256): at least 32 bytes.
    #[arg(long, env = "API_JWT_SECRET", hide_env_values = true)]
    pub api_jwt_secret: Option<SecretString>,

    /// The original system's API_JWT_SECRET, during a move from it when it differs from
    /// API_JWT_SECRET (it may be shorter): the sessions it issued stay valid until they
    /// expire; new ones are signed with API_JWT_SECRET.
    #[arg(long, env = "LEGACY_API_JWT_SECRET", hide_env_values = true)]
    pub legacy_api_jwt_secret: Option<SecretString>,

    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,

    /// The web app's address: allowed by CORS, and where Stripe sends people back.
    #[arg(long, env = "FRONTEND_URL", default_value = "http://localhost:3000")]
    pub frontend_url: String,

    /// `production`, or `development` (also allows `http://localhost:*` origins).
    #[arg(long, env = "APP_ENV", value_enum, default_value_t = Environment::Production)]
    pub app_env: Environment,

    /// Namespace of the Instances the facade creates.
    #[arg(long, env = "INSTANCE_NAMESPACE", default_value = "default")]
    pub instance_namespace: String,

    /// Telegram Bot API base URL, for token validation.
    #[arg(
        long,
        env = "TELEGRAM_API_URL",
        default_value = "https://api.telegram.org"
    )]
    pub telegram_api_url: String,

    /// Longest time a request may take.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Largest request body, in bytes.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 65_536)]
    pub body_limit_bytes: usize,

    /// Sign-in and sign-up attempts allowed per client address per minute.
    #[arg(long, env = "AUTH_RATE_PER_ADDRESS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_address: u32,

    /// Attempts allowed per account per minute: sign-ins, and (signed in) password
    /// changes and account deletions.
    #[arg(long, env = "AUTH_RATE_PER_ACCOUNT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_account: u32,

    /// The proxies in front of the facade (its Ingress controller, a load balancer):
    /// addresses or CIDR blocks, comma-separated. A request from one of them is
    /// attributed to the right-most `X-Forwarded-For` entry that is not a trusted
    /// proxy; empty, the connection's address is the client's.
    #[arg(long, env = "TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// Password hashes computed at once (each takes about 19 MiB while it runs); a
    /// request that finds them all taken for 2 s is answered 503.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub password_hash_concurrency: u16,

    /// Connections open at once; further clients wait to be accepted.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Longest time a client may take to send a request's headers, or leave a
    /// kept-alive connection idle, before the connection is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// Address of `/metrics` (Prometheus text), apart from the API so that it is not
    /// served to the internet with it.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: SocketAddr,
}

/// Sign-in with Google: served when the client id and secret are both set.
#[derive(Debug, Args)]
pub struct GoogleArgs {
    /// The OAuth client id of the Google Cloud project (`…apps.googleusercontent.com`).
    #[arg(long, env = "GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,

    /// The OAuth client secret.
    #[arg(long, env = "GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub google_client_secret: Option<SecretString>,

    /// The OpenID Connect issuer to discover Google's endpoints and keys from.
    #[arg(
        long,
        env = "GOOGLE_ISSUER_URL",
        default_value = "https://accounts.google.com"
    )]
    pub google_issuer_url: String,

    /// Where Google sends the browser back: this facade's `/auth/google/callback` as the
    /// internet reaches it, registered with the OAuth client. Unset, it is
    /// `API_URL` + `/auth/google/callback`, or in development
    /// `http://localhost:<PORT>/auth/google/callback`.
    #[arg(long, env = "GOOGLE_REDIRECT_URL")]
    pub google_redirect_url: Option<String>,

    /// The facade's public address (`https://api.example.com`), as the original's
    /// `API_URL`: the base of the default `GOOGLE_REDIRECT_URL`.
    #[arg(long, env = "API_URL")]
    pub api_url: Option<String>,
}
