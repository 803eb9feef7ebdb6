//! The shapes Kestra allows for identifiers.

/// Task, trigger and flow ids: a letter or digit, then letters, digits, `_` and `-` (flow ids
/// may also hold dots). Kestra caps flow ids at 100 characters.
pub fn check_id(id: &str, what: &str, allow_dots: bool) -> Result<(), String> {
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dots && c == '.');
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if id.is_empty() {
        return Err(format!("{what} id must not be empty"));
    }
    if id.len() > 100 {
        return Err(format!("{what} id '{id}' is longer than 100 characters"));
    }
    if !first_ok || !id.chars().all(allowed) {
        let extra = if allow_dots { ", '.'" } else { "" };
        return Err(format!(
            "invalid {what} id '{id}': use letters, digits, '_', '-'{extra}, starting with a letter or digit"
        ));
    }
    Ok(())
}

/// Namespaces are dotted paths of lowercase segments (`company.team`), at most 150 characters.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let segment_ok = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    if namespace.len() > 150 {
        return Err(format!(
            "namespace '{namespace}' is longer than 150 characters"
        ));
    }
    if namespace.is_empty() || !namespace.split('.').all(segment_ok) {
        return Err(format!(
            "invalid namespace '{namespace}': use dot-separated segments of lowercase letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

/// Names in `inputFiles` and patterns in `outputFiles` must stay inside the working directory.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.starts_with('/') || path.starts_with('\\') || path.chars().nth(1) == Some(':') {
        return Err(format!(
            "'{path}' is an absolute path; file names are relative to the working directory"
        ));
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Err(format!(
            "'{path}' leaves the working directory through '..'"
        ));
    }
    if path.is_empty() {
        return Err("a file name must not be empty".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("hello_world-1", "task", false).is_ok());
        assert!(check_id("my.flow", "flow", true).is_ok());
        assert!(check_id("my.task", "task", false).is_err());
        assert!(check_id("-x", "task", false).is_err());
        assert!(check_id("", "task", false).is_err());
        assert!(check_id("a b", "task", false).is_err());
    }

    #[test]
    fn namespaces() {
        assert!(check_namespace("zoomcamp").is_ok());
        assert!(check_namespace("company.team-a.etl_1").is_ok());
        assert!(check_namespace("Company").is_err());
        assert!(check_namespace("a..b").is_err());
        assert!(check_namespace(".a").is_err());
    }

    #[test]
    fn relative_paths() {
        assert!(check_relative_path("data/in.csv").is_ok());
        assert!(check_relative_path("*.csv").is_ok());
        assert!(check_relative_path("/etc/passwd").is_err());
        assert!(check_relative_path("../x").is_err());
        assert!(check_relative_path("a/../../x").is_err());
        assert!(check_relative_path("C:\\x").is_err());
    }
}
