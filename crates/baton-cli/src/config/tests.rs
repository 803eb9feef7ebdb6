use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layers::{Error, apply_file};
use super::*;

/// A scratch directory with an optional `baton.yaml`, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(baton_yaml: Option<&str>) -> Self {
        let dir = std::env::temp_dir().join(format!("baton-config-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(text) = baton_yaml {
            std::fs::write(dir.join("baton.yaml"), text).unwrap();
        }
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn load_in(
    role: Role,
    dir: &Path,
    env: &[(&str, &str)],
    flags: &[(&'static str, &str)],
) -> Result<Config, Error> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let sources = Sources {
        file: None,
        dir: dir.to_owned(),
        env: &env,
        flags: flags.iter().map(|(f, v)| (*f, (*v).to_owned())).collect(),
    };
    load(role, sources).map(|(config, _)| config)
}

const FILE: &str = "\
server:
  listen: 10.0.0.1:9000
  dataDir: /var/lib/baton
leases:
  claim: PT45S
worker:
  slots: 3
  token: from-file
";

#[test]
fn each_layer_overrides_the_one_below_key_by_key() {
    let dir = Dir::new(Some(FILE));
    let defaults = load_in(Role::Standalone, Path::new("/nonexistent"), &[], &[]).unwrap();
    assert_eq!(defaults, Config::defaults(Role::Standalone));

    let file = load_in(Role::Standalone, &dir.0, &[], &[]).unwrap();
    assert_eq!(file.server.listen.to_string(), "10.0.0.1:9000");
    assert_eq!(file.server.data_dir, PathBuf::from("/var/lib/baton"));
    assert_eq!(file.leases.claim, Duration::from_secs(45));
    // Keys the file leaves out keep their defaults, in a section it writes and in others.
    assert_eq!(file.leases.worker, Duration::from_secs(30));
    assert_eq!(file.server.basic_auth, None);
    assert_eq!(file.log, LogConfig::default());

    let env = [
        ("BATON_LISTEN", "10.0.0.2:9001"),
        ("BATON_CLAIM_LEASE", "2.5"),
        ("BATON_WORKER_TOKEN", ""),
        ("UNRELATED", "x"),
    ];
    let with_env = load_in(Role::Standalone, &dir.0, &env, &[]).unwrap();
    assert_eq!(with_env.server.listen.to_string(), "10.0.0.2:9001");
    assert_eq!(with_env.leases.claim, Duration::from_millis(2500));
    assert_eq!(with_env.server.data_dir, PathBuf::from("/var/lib/baton"));
    // An empty variable is unset, as a shell's `VAR=` is meant.
    assert_eq!(with_env.worker.token.as_deref(), Some("from-file"));

    let flags = [("listen", "10.0.0.3:9002"), ("slots", "7")];
    let with_flags = load_in(Role::Standalone, &dir.0, &env, &flags).unwrap();
    assert_eq!(with_flags.server.listen.to_string(), "10.0.0.3:9002");
    assert_eq!(with_flags.worker.slots, Some(7));
    assert_eq!(with_flags.leases.claim, Duration::from_millis(2500));
}

#[test]
fn a_file_keeps_the_defaults_of_the_role_it_does_not_override() {
    let dir = Dir::new(Some("server:\n  dataDir: data\n"));
    let local = load_in(Role::Local, &dir.0, &[], &[]).unwrap();
    assert_eq!(local.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(local.server.flows_dir, Some(PathBuf::from("flows")));
    assert_eq!(local.server.data_dir, PathBuf::from("data"));
    // `null` is a value: it turns the flows folder off.
    let dir = Dir::new(Some("server:\n  flowsDir: null\n"));
    let local = load_in(Role::Local, &dir.0, &[], &[]).unwrap();
    assert_eq!(local.server.flows_dir, None);
}

#[test]
fn the_file_is_named_by_the_flag_then_the_variable_then_found_in_the_folder() {
    let folder = Dir::new(Some("server:\n  dataDir: from-folder\n"));
    let named = Dir::new(Some("server:\n  dataDir: from-variable\n"));
    let path = named.0.join("baton.yaml").display().to_string();
    let by_variable = load_in(
        Role::Local,
        &folder.0,
        &[("BATON_CONFIG", path.as_str())],
        &[],
    )
    .unwrap();
    assert_eq!(by_variable.server.data_dir, PathBuf::from("from-variable"));
    let env = HashMap::from([("BATON_CONFIG".to_owned(), path)]);
    let sources = Sources {
        file: Some(folder.0.join("baton.yaml")),
        dir: folder.0.clone(),
        env: &env,
        flags: Vec::new(),
    };
    let (by_flag, file) = load(Role::Local, sources).unwrap();
    assert_eq!(by_flag.server.data_dir, PathBuf::from("from-folder"));
    assert_eq!(file, Some(folder.0.join("baton.yaml")));

    let missing = Sources {
        file: Some(folder.0.join("nope.yaml")),
        dir: folder.0.clone(),
        env: &HashMap::new(),
        flags: Vec::new(),
    };
    let error = load(Role::Local, missing).unwrap_err().to_string();
    assert!(
        error.starts_with("cannot read the configuration file"),
        "{error}"
    );
    assert!(error.contains("nope.yaml"), "{error}");
}

#[test]
fn unknown_keys_and_bad_values_are_all_reported_at_their_positions() {
    let text = "\
server:
  listen: 127.0.0.1:8080
  dataDri: x
databse:
  url: postgres://db
leases:
  claim: soon
worker:
  slots: -1
";
    let error = apply_file(Config::default(), text, "conf/baton.yaml").unwrap_err();
    let Error::File(lines) = &error else {
        panic!("a file error: {error}");
    };
    assert_eq!(
        lines[0],
        "conf/baton.yaml:3:3: unknown property 'dataDri' (did you mean 'dataDir'?)"
    );
    assert_eq!(
        lines[1],
        "conf/baton.yaml:4:1: unknown property 'databse' (did you mean 'database'?)"
    );
    assert!(
        lines[2].starts_with("conf/baton.yaml:7:10: 'claim': invalid duration 'soon'"),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 3, "{lines:?}");

    let error = apply_file(Config::default(), "worker:\n  slots: -1\n", "b.yaml").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("b.yaml:2:10: 'slots': -1 is out of range"),
        "{error}"
    );
    let error = apply_file(Config::default(), "log: [a]\n", "b.yaml").unwrap_err();
    assert!(error.to_string().contains("b.yaml:1:6: "), "{error}");
    let error = apply_file(Config::default(), "a: 1\n---\nb: 2\n", "b.yaml").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("b.yaml:3:1: a configuration file holds one YAML document")
    );
    let error = apply_file(Config::default(), "server: {listen: [\n", "b.yaml").unwrap_err();
    assert!(error.to_string().contains("b.yaml:"), "{error}");
    // Comments only, or nothing: the defaults.
    let empty = apply_file(Config::default(), "# nothing yet\n", "b.yaml").unwrap();
    assert_eq!(empty, Config::default());
}

#[test]
fn bad_variables_and_flags_are_named_with_their_key() {
    let dir = Dir::new(None);
    let error = load_in(Role::Worker, &dir.0, &[("BATON_WORKER_SLOTS", "many")], &[]);
    assert_eq!(
        error.unwrap_err().to_string(),
        "BATON_WORKER_SLOTS (worker.slots): 'many' is not a whole number"
    );
    let error = load_in(Role::Worker, &dir.0, &[], &[("basic-auth", "nopassword")]);
    assert_eq!(
        error.unwrap_err().to_string(),
        "--basic-auth (server.basicAuth): expected USER:PASSWORD, both non-empty"
    );
}

#[test]
fn each_role_is_told_what_it_misses() {
    let config = Config::defaults(Role::Executor);
    let error = config.validate(Role::Executor).unwrap_err().to_string();
    assert_eq!(
        error,
        "`baton server executor` needs database.url (BATON_DATABASE_URL, --database-url): \
         the Postgres that holds flows and executions"
    );
    let mut config = Config::defaults(Role::Worker);
    config.worker.token = Some("t".into());
    let error = config.validate(Role::Worker).unwrap_err().to_string();
    assert!(
        error.contains("worker.executorUrl (BATON_EXECUTOR_URL, --executor)"),
        "{error}"
    );
    config.worker.executor_url = Some("http://e:8080".into());
    config.validate(Role::Worker).unwrap();
    config.leases.worker = Duration::ZERO;
    let error = config.validate(Role::Worker).unwrap_err().to_string();
    assert!(error.contains("leases.worker"), "{error}");
    Config::defaults(Role::Local).validate(Role::Local).unwrap();
    let mut config = Config::defaults(Role::Local);
    config.log.level = "info,=bogus=".into();
    let error = config.validate(Role::Local).unwrap_err().to_string();
    assert!(
        error.starts_with("log.level (BATON_LOG, --log-level)"),
        "{error}"
    );
}

#[test]
fn the_dump_reads_back_as_the_same_configuration_with_secrets_redacted() {
    let dir = Dir::new(Some(FILE));
    let env = [
        ("BATON_BASIC_AUTH", "admin:hunter2"),
        ("BATON_DATABASE_URL", "postgres://baton:pw@db/baton"),
        ("BATON_LOG_FORMAT", "json"),
    ];
    let config = load_in(Role::Standalone, &dir.0, &env, &[("worker-group", "gpu")]).unwrap();
    let yaml = to_yaml(&config, Role::Standalone, Some(Path::new("baton.yaml")));
    assert!(!yaml.contains("hunter2") && !yaml.contains(":pw@") && !yaml.contains("from-file"));
    assert!(yaml.contains("    password: \"<redacted>\""), "{yaml}");
    assert!(
        yaml.contains("  url: \"postgres://baton:<redacted>@db/baton\""),
        "{yaml}"
    );
    assert!(yaml.contains("  listen: \"10.0.0.1:9000\""), "{yaml}");
    assert!(yaml.contains("  claim: 45.0"), "{yaml}");
    assert!(yaml.contains("  group: \"gpu\""), "{yaml}");
    assert!(yaml.contains("  format: \"json\""), "{yaml}");

    let read_back = apply_file(Config::defaults(Role::Standalone), &yaml, "dump.yaml").unwrap();
    let mut expected = config.clone();
    expected.server.basic_auth.as_mut().unwrap().password = "<redacted>".into();
    expected.worker.token = Some("<redacted>".into());
    expected.database.url = Some("postgres://baton:<redacted>@db/baton".into());
    assert_eq!(read_back, expected);
}

#[test]
fn every_setting_has_a_distinct_variable_flag_and_key_of_the_file() {
    let keys: std::collections::HashSet<_> = SETTINGS.iter().map(|s| s.key).collect();
    let envs: std::collections::HashSet<_> = SETTINGS.iter().map(|s| s.env).collect();
    let flags: std::collections::HashSet<_> = SETTINGS.iter().map(|s| s.flag).collect();
    assert_eq!(keys.len(), SETTINGS.len());
    assert_eq!(envs.len(), SETTINGS.len());
    assert_eq!(flags.len(), SETTINGS.len());
    // Each key is a path of the serialized configuration.
    let value = serde_json::to_value(Config::default()).unwrap();
    for setting in SETTINGS {
        let pointer = format!("/{}", setting.key.replace('.', "/"));
        assert!(value.pointer(&pointer).is_some(), "{}", setting.key);
    }
}

const GUIDE: &str = include_str!("../../../../docs/configuration.md");

#[test]
fn the_guide_documents_every_setting_and_its_example_is_valid() {
    for setting in SETTINGS {
        for name in [
            format!("`{}", setting.key),
            format!("`{}`", setting.env),
            format!("`--{}", setting.flag),
        ] {
            assert!(GUIDE.contains(&name), "docs/configuration.md names {name}");
        }
    }
    let example = GUIDE
        .split("## Example")
        .nth(1)
        .and_then(|text| text.split("```yaml\n").nth(1))
        .and_then(|text| text.split("```").next())
        .expect("a yaml block under ## Example");
    let config = apply_file(Config::defaults(Role::Executor), example, "example").unwrap();
    config.validate(Role::Executor).unwrap();
    config.validate(Role::Worker).unwrap();
    assert_eq!(config.worker.drain_grace, Duration::from_secs(120));
    assert_eq!(config.log.format, LogFormat::Json);
}
