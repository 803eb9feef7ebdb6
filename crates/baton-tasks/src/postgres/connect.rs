//! The connection to the user's database: `url` in JDBC form (`jdbc:postgresql://host:port/db`,
//! as Kestra writes it) or libpq form (`postgres://…`), `username` and `password` (which win
//! over the URL's), and the TLS options. Kestra's TLS certificates and key are PEM text, not
//! file paths.

use baton_core::flow::props::JdbcConnection;
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// What the task logs and its errors say about the database (never the password).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub options: PgConnectOptions,
    /// `host:port/database` (or the socket directory), for messages.
    pub display: String,
    /// URL parameters Baton does not use, for a warning.
    pub ignored: Vec<String>,
}

pub(crate) fn target(connection: &JdbcConnection) -> Result<Target, String> {
    let text = connection.url.trim();
    if text.is_empty() {
        return Err("url: missing; set it on the task or in pluginDefaults \
                    (type: io.kestra.plugin.jdbc.postgresql)"
            .to_owned());
    }
    let libpq = text.strip_prefix("jdbc:").unwrap_or(text);
    let url = reqwest::Url::parse(libpq).map_err(|e| format!("url: '{text}' is not a URL: {e}"))?;
    if !matches!(url.scheme(), "postgresql" | "postgres") {
        return Err(format!(
            "url: '{text}' is not a Postgres URL (jdbc:postgresql://host:port/database)"
        ));
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let host = url.host_str().unwrap_or("localhost").to_owned();
    let port = url.port().unwrap_or(5432);
    let database = decode(url.path().trim_start_matches('/'));
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(&host)
        .port(port)
        .ssl_mode(PgSslMode::Prefer);
    let mut username = (!url.username().is_empty()).then(|| decode(url.username()));
    let mut password = url.password().map(decode);
    let mut socket = None;
    let mut ssl_mode = None;
    let mut ssl = None;
    let mut ignored = Vec::new();
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "user" => username = Some(value.into_owned()),
            "password" => password = Some(value.into_owned()),
            "ssl" => ssl = Some(value == "true"),
            "sslmode" => ssl_mode = Some(value.into_owned()),
            "sslrootcert" => options = options.ssl_root_cert(value.as_ref()),
            "currentSchema" => {
                options = options.options([("search_path", value.as_ref())]);
            }
            "ApplicationName" | "application_name" => {
                options = options.application_name(&value);
            }
            "options" => options = options.options(parse_options(&value)),
            // libpq's (and Baton's) way to name a Unix socket directory.
            "host" if value.starts_with('/') => socket = Some(value.into_owned()),
            other => ignored.push(other.to_owned()),
        }
    }
    if let Some(name) = connection.username.clone() {
        username = Some(name);
    }
    if let Some(secret) = connection.password.clone() {
        password = Some(secret);
    }
    let Some(username) = username else {
        return Err("username: missing (set it, or user= in the url)".to_owned());
    };
    options = options.username(&username);
    if let Some(password) = &password {
        options = options.password(password);
    }
    if !database.is_empty() {
        options = options.database(&database);
    }
    let place = match &socket {
        Some(dir) => {
            options = options.socket(dir);
            format!("{dir} (socket)")
        }
        None => format!("{host}:{port}"),
    };
    options = tls(options, connection, ssl, ssl_mode)?;
    Ok(Target {
        options,
        display: format!("{place}/{database} as {username}"),
        ignored,
    })
}

/// `-c key=value` pairs of a libpq `options` parameter.
fn parse_options(text: &str) -> Vec<(String, String)> {
    text.split_whitespace()
        .filter(|part| *part != "-c")
        .filter_map(|part| part.trim_start_matches("-c").split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn tls(
    mut options: PgConnectOptions,
    connection: &JdbcConnection,
    url_ssl: Option<bool>,
    url_mode: Option<String>,
) -> Result<PgConnectOptions, String> {
    let mode = connection.ssl_mode.clone().or(url_mode);
    let ssl = connection.ssl.or(url_ssl);
    let mode = match (mode, ssl) {
        (Some(mode), _) => match mode.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" => PgSslMode::Disable,
            "allow" => PgSslMode::Allow,
            "prefer" => PgSslMode::Prefer,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslMode: '{other}' is not DISABLE, ALLOW, PREFER, REQUIRE, VERIFY_CA or \
                     VERIFY_FULL"
                ));
            }
        },
        // pgjdbc's `ssl=true` verifies the server's certificate and name.
        (None, Some(true)) => PgSslMode::VerifyFull,
        (None, Some(false)) => PgSslMode::Disable,
        (None, None) => PgSslMode::Prefer,
    };
    options = options.ssl_mode(mode);
    if let Some(pem) = &connection.ssl_root_cert {
        options = options.ssl_root_cert_from_pem(pem.as_bytes().to_vec());
    }
    if let Some(pem) = &connection.ssl_cert {
        options = options.ssl_client_cert_from_pem(pem.as_bytes());
    }
    if let Some(pem) = &connection.ssl_key {
        options = options.ssl_client_key_from_pem(pem.as_bytes());
    }
    if connection.ssl_key_password.is_some() {
        return Err(
            "sslKeyPassword: encrypted client keys are not supported by Baton yet; give the key \
             unencrypted in sslKey"
                .to_owned(),
        );
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(url: &str) -> JdbcConnection {
        JdbcConnection {
            url: url.to_owned(),
            ..JdbcConnection::default()
        }
    }

    #[test]
    fn jdbc_and_libpq_urls_are_read() {
        let mut jdbc = connection("jdbc:postgresql://pgdatabase:5433/ny_taxi?currentSchema=raw");
        jdbc.username = Some("root".to_owned());
        jdbc.password = Some("root".to_owned());
        let read = target(&jdbc).unwrap();
        assert_eq!(read.display, "pgdatabase:5433/ny_taxi as root");
        assert_eq!(read.options.get_host(), "pgdatabase");
        assert_eq!(read.options.get_port(), 5433);
        assert_eq!(read.options.get_database(), Some("ny_taxi"));
        assert!(read.ignored.is_empty());

        let libpq = target(&connection(
            "postgres://ada:pw@localhost/db?host=/tmp/pg&sslmode=disable&loginTimeout=3",
        ))
        .unwrap();
        assert_eq!(libpq.display, "/tmp/pg (socket)/db as ada");
        assert_eq!(libpq.options.get_username(), "ada");
        assert_eq!(libpq.ignored, ["loginTimeout"]);
    }

    #[test]
    fn bad_urls_and_options_are_refused_naming_the_property() {
        assert!(
            target(&connection(""))
                .unwrap_err()
                .starts_with("url: missing")
        );
        assert_eq!(
            target(&connection("jdbc:mysql://h/db")).unwrap_err(),
            "url: 'jdbc:mysql://h/db' is not a Postgres URL (jdbc:postgresql://host:port/database)"
        );
        assert!(
            target(&connection("jdbc:postgresql://h/db"))
                .unwrap_err()
                .starts_with("username: missing")
        );
        let mut bad_mode = connection("jdbc:postgresql://h/db?user=a");
        bad_mode.ssl_mode = Some("SOMETIMES".to_owned());
        assert!(
            target(&bad_mode)
                .unwrap_err()
                .starts_with("sslMode: 'sometimes'")
        );
    }
}
