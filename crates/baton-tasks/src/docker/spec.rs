//! From a task's rendered Docker runner options to the Engine API's container configuration.
//! Every refusal names the property.

use std::collections::HashMap;
use std::path::Path;

use baton_core::flow::props::{DockerCredentials, DockerRunner, PullPolicy};
use bollard::auth::DockerCredentials as EngineCredentials;
use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig};

use super::DockerSettings;

/// Everything needed to create, run and remove one container.
#[derive(Debug)]
pub(crate) struct ContainerSpec {
    pub image: String,
    pub pull_policy: PullPolicy,
    /// Registry credentials for pulling `image`.
    pub credentials: Option<EngineCredentials>,
    /// The engine to use instead of the worker's (the runner's `host`).
    pub host: Option<String>,
    pub body: ContainerCreateBody,
    /// `fileHandlingStrategy: MOUNT`: the working directory is bind-mounted, not copied.
    pub mount_working_dir: bool,
    /// Remove the container afterwards (`delete`, default true).
    pub delete: bool,
}

/// What the script task asks of the container.
pub(crate) struct Request<'a> {
    pub runner: &'a DockerRunner,
    pub image: String,
    /// The command, interpreter included (Kestra's entrypoint is empty by default).
    pub command: Vec<String>,
    /// `KEY=value` pairs.
    pub env: Vec<String>,
    /// The working directory: the same path on the host and in the container.
    pub dir: &'a Path,
    pub labels: HashMap<String, String>,
}

pub(crate) fn build(
    request: Request<'_>,
    settings: &DockerSettings,
) -> Result<ContainerSpec, String> {
    let runner = request.runner;
    if runner.wait == Some(false) {
        return Err(
            "taskRunner.wait: false is not supported by Baton: a container never outlives its task run"
                .to_owned(),
        );
    }
    let mount_working_dir = match runner.file_handling_strategy.as_deref() {
        None | Some("VOLUME") => false,
        Some("MOUNT") => true,
        Some(other) => {
            return Err(format!(
                "taskRunner.fileHandlingStrategy: '{other}' is not VOLUME or MOUNT"
            ));
        }
    };
    let dir = request.dir.display().to_string();
    let mut binds = Vec::new();
    if mount_working_dir {
        binds.push(format!("{dir}:{dir}:rw"));
    }
    if let Some(volumes) = runner.volumes.as_ref().filter(|v| !v.is_empty()) {
        if !settings.volumes_enabled {
            return Err(
                "taskRunner.volumes: host volumes are disabled on this worker (start it with \
                 --docker-volumes-enabled or BATON_DOCKER_VOLUMES_ENABLED=true to allow them)"
                    .to_owned(),
            );
        }
        binds.extend(volumes.iter().cloned());
    }
    let mut host_config = HostConfig {
        binds: (!binds.is_empty()).then_some(binds),
        network_mode: runner.network_mode.clone().filter(|m| !m.is_empty()),
        extra_hosts: runner.extra_hosts.clone(),
        privileged: runner.privileged,
        shm_size: size(runner.shm_size.as_deref(), "taskRunner.shmSize")?,
        device_requests: device_requests(runner.device_requests.as_ref())?,
        ..HostConfig::default()
    };
    if let Some(cpus) = runner.cpu.as_ref().and_then(|c| c.cpus) {
        if !(cpus.is_finite() && cpus > 0.0) {
            return Err(format!(
                "taskRunner.cpu.cpus: {cpus} is not a positive number"
            ));
        }
        // Whole nanoseconds of CPU time per second; the float-to-int cast saturates.
        host_config.nano_cpus = Some((cpus * 1e9) as i64);
    }
    if let Some(memory) = &runner.memory {
        host_config.memory = size(memory.memory.as_deref(), "taskRunner.memory.memory")?;
        host_config.memory_swap = match memory.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            other => size(other, "taskRunner.memory.memorySwap")?,
        };
        host_config.memory_reservation = size(
            memory.memory_reservation.as_deref(),
            "taskRunner.memory.memoryReservation",
        )?;
        host_config.memory_swappiness = match memory.memory_swappiness.as_deref() {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (0..=100).contains(n))
                    .ok_or_else(|| {
                        format!(
                            "taskRunner.memory.memorySwappiness: '{text}' is not a number from 0 to 100"
                        )
                    })?,
            ),
        };
        if memory.kernel_memory.is_some() {
            return Err(
                "taskRunner.memory.kernelMemory is not supported: Docker removed kernel memory limits"
                    .to_owned(),
            );
        }
        host_config.oom_kill_disable = memory.oom_kill_disable;
    }
    let entrypoint = runner
        .entry_point
        .clone()
        .unwrap_or_else(|| vec![String::new()]);
    let body = ContainerCreateBody {
        image: Some(request.image.clone()),
        cmd: Some(request.command),
        entrypoint: Some(entrypoint),
        env: Some(request.env),
        working_dir: Some(dir),
        user: runner.user.clone().filter(|u| !u.is_empty()),
        labels: Some(request.labels),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    };
    Ok(ContainerSpec {
        credentials: credentials(runner, &request.image)?,
        image: request.image,
        pull_policy: runner.pull_policy.unwrap_or(PullPolicy::IfNotPresent),
        host: runner.host.clone(),
        body,
        mount_working_dir,
        delete: runner.delete.unwrap_or(true),
    })
}

/// A size as Kestra and Docker write them: bytes, or a number with `k`, `m`, `g`, `t`
/// (optionally followed by `b`, any case), in powers of 1024: `512m`, `512Mb`, `2GB`.
pub(crate) fn parse_size(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let number: i64 = number.parse().ok()?;
    let shift = match unit.trim() {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        "t" | "tb" => 40,
        _ => return None,
    };
    number.checked_mul(1i64 << shift)
}

fn size(text: Option<&str>, property: &str) -> Result<Option<i64>, String> {
    match text {
        None => Ok(None),
        Some(text) => parse_size(text).map(Some).ok_or_else(|| {
            format!(
                "{property}: '{text}' is not a size (bytes, or a number with KB, MB, GB: 512MB)"
            )
        }),
    }
}

/// Kestra's `deviceRequests` (camelCase) to the Engine API's.
fn device_requests(
    value: Option<&serde_json::Value>,
) -> Result<Option<Vec<DeviceRequest>>, String> {
    let Some(value) = value else {
        return Ok(None);
    };
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Request {
        driver: Option<String>,
        count: Option<i64>,
        device_ids: Option<Vec<String>>,
        capabilities: Option<Vec<Vec<String>>>,
        options: Option<HashMap<String, String>>,
    }
    let requests: Vec<Request> = serde_json::from_value(value.clone())
        .map_err(|e| format!("taskRunner.deviceRequests: {e}"))?;
    Ok(Some(
        requests
            .into_iter()
            .map(|r| DeviceRequest {
                driver: r.driver,
                count: r.count,
                device_ids: r.device_ids,
                capabilities: r.capabilities,
                options: r.options,
            })
            .collect(),
    ))
}

/// `credentials`, else the entry of `config` (a Docker `config.json`, as text or a map) for
/// the image's registry.
fn credentials(runner: &DockerRunner, image: &str) -> Result<Option<EngineCredentials>, String> {
    if let Some(DockerCredentials {
        registry,
        username,
        password,
        registry_token,
        identity_token,
        auth,
    }) = runner.credentials.clone()
    {
        return Ok(Some(EngineCredentials {
            username,
            password,
            auth,
            serveraddress: registry,
            identitytoken: identity_token,
            registrytoken: registry_token,
            ..EngineCredentials::default()
        }));
    }
    let Some(config) = &runner.config else {
        return Ok(None);
    };
    let parsed;
    let config = match config {
        serde_json::Value::String(text) => {
            parsed = serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| format!("taskRunner.config: not a Docker config.json: {e}"))?;
            &parsed
        }
        other => other,
    };
    let registry = registry_of(image);
    let auths = config.get("auths").and_then(serde_json::Value::as_object);
    let entry = auths.and_then(|auths| {
        auths.iter().find_map(|(key, value)| {
            let key = key
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let key = key.split('/').next().unwrap_or(key);
            (key == registry || (registry == "docker.io" && key == "index.docker.io"))
                .then_some(value)
        })
    });
    Ok(entry.map(|entry| {
        let text = |name: &str| entry.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        EngineCredentials {
            username: text("username"),
            password: text("password"),
            auth: text("auth"),
            identitytoken: text("identitytoken"),
            serveraddress: Some(registry.to_owned()),
            ..EngineCredentials::default()
        }
    }))
}

/// The registry host of an image reference; Docker Hub's is `docker.io`.
fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// `name[:tag]` or `name@digest` split for a pull; the tag defaults to `latest`.
pub(crate) fn repository_and_tag(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name, digest);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_kestra_and_docker_write_them() {
        assert_eq!(parse_size("512Mb"), Some(512 << 20));
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("12x"), None);
        assert_eq!(parse_size("MB"), None);
    }

    #[test]
    fn images_split_into_repository_and_tag() {
        assert_eq!(
            repository_and_tag("python:3.11-slim"),
            ("python", "3.11-slim")
        );
        assert_eq!(repository_and_tag("ubuntu"), ("ubuntu", "latest"));
        assert_eq!(
            repository_and_tag("localhost:5000/team/app"),
            ("localhost:5000/team/app", "latest")
        );
        assert_eq!(
            repository_and_tag("ghcr.io/kestra-io/kestrapy:latest"),
            ("ghcr.io/kestra-io/kestrapy", "latest")
        );
        assert_eq!(registry_of("ghcr.io/kestra-io/kestrapy:latest"), "ghcr.io");
        assert_eq!(registry_of("python:slim"), "docker.io");
    }

    fn request<'a>(runner: &'a DockerRunner, dir: &'a Path) -> Request<'a> {
        Request {
            runner,
            image: "python:3.11-slim".into(),
            command: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec!["A=1".into()],
            dir,
            labels: HashMap::new(),
        }
    }

    #[test]
    fn limits_entrypoint_and_volumes_map_onto_the_engine_config() {
        let runner: DockerRunner = serde_json::from_value(serde_json::json!({
            "cpu": {"cpus": 1.5},
            "memory": {"memory": "256MB", "memorySwap": "-1"},
            "networkMode": "none",
            "user": "1000",
            "volumes": ["/data:/data:ro"],
        }))
        .unwrap();
        let dir = Path::new("/tmp/wd");
        let refused = build(request(&runner, dir), &DockerSettings::default()).unwrap_err();
        assert!(
            refused.starts_with("taskRunner.volumes: host volumes are disabled"),
            "{refused}"
        );
        let settings = DockerSettings {
            volumes_enabled: true,
            ..DockerSettings::default()
        };
        let spec = build(request(&runner, dir), &settings).unwrap();
        let host = spec.body.host_config.as_ref().unwrap();
        assert_eq!(host.nano_cpus, Some(1_500_000_000));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.memory_swap, Some(-1));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(
            host.binds.as_deref(),
            Some(&["/data:/data:ro".to_owned()][..])
        );
        assert_eq!(spec.body.entrypoint, Some(vec![String::new()]));
        assert_eq!(spec.body.working_dir.as_deref(), Some("/tmp/wd"));
        assert_eq!(spec.body.user.as_deref(), Some("1000"));
        assert_eq!(spec.pull_policy, PullPolicy::IfNotPresent);

        let bad: DockerRunner =
            serde_json::from_value(serde_json::json!({"memory": {"memory": "lots"}})).unwrap();
        let error = build(request(&bad, dir), &settings).unwrap_err();
        assert!(
            error.starts_with("taskRunner.memory.memory: 'lots' is not a size"),
            "{error}"
        );
    }

    #[test]
    fn credentials_come_from_the_property_or_the_config_for_the_image_registry() {
        let runner: DockerRunner = serde_json::from_value(serde_json::json!({
            "config": "{\"auths\": {\"https://ghcr.io\": {\"auth\": \"dTpw\"}}}",
        }))
        .unwrap();
        let found = credentials(&runner, "ghcr.io/team/app:1").unwrap().unwrap();
        assert_eq!(found.auth.as_deref(), Some("dTpw"));
        assert_eq!(found.serveraddress.as_deref(), Some("ghcr.io"));
        assert!(credentials(&runner, "python:slim").unwrap().is_none());
        let runner: DockerRunner = serde_json::from_value(serde_json::json!({
            "credentials": {"registry": "r.example", "username": "u", "password": "p"},
        }))
        .unwrap();
        let given = credentials(&runner, "r.example/app").unwrap().unwrap();
        assert_eq!(given.username.as_deref(), Some("u"));
        assert_eq!(given.serveraddress.as_deref(), Some("r.example"));
    }
}
