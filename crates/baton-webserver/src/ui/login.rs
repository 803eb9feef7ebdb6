//! `/ui/login` and `/ui/logout`: the form that turns the configured Basic credentials into a
//! session cookie.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::view::Nav;
use super::{PageResult, html, html_with, session};
use crate::ApiState;

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage {
    nav: Nav,
    title: String,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// Only a path of the UI: a login link must not send the browser to another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if super::is_ui_path(path.split('?').next().unwrap_or_default())
                && !path.starts_with("/ui/login") =>
        {
            path.to_owned()
        }
        _ => "/ui/flows".to_owned(),
    }
}

pub async fn form(State(state): State<ApiState>, Query(query): Query<NextQuery>) -> PageResult {
    let next = safe_next(query.next.as_deref());
    if state.options.basic_auth.is_none() {
        return Ok(Redirect::to(&next).into_response());
    }
    html(&LoginPage {
        nav: Nav::new("login"),
        title: "Log in".into(),
        next,
        username: String::new(),
        error: None,
    })
}

pub async fn submit(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Form(login): Form<LoginForm>,
) -> PageResult {
    let next = safe_next(login.next.as_deref());
    let Some(credentials) = state.options.basic_auth.as_ref() else {
        return Ok(Redirect::to(&next).into_response());
    };
    if !credentials.matches(&login.username, &login.password) {
        return html_with(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                nav: Nav::new("login"),
                title: "Log in".into(),
                next,
                username: login.username,
                error: Some("Wrong user name or password.".into()),
            },
        );
    }
    // Behind a TLS-terminating proxy the cookie must only travel over HTTPS.
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let cookie = session::set_cookie(&session::issue(credentials, chrono::Utc::now()), secure);
    Ok((
        StatusCode::SEE_OTHER,
        [(SET_COOKIE, cookie), (LOCATION, next)],
    )
        .into_response())
}

pub async fn logout() -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, session::clear_cookie()),
            (LOCATION, "/ui/login".to_owned()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_inside_the_ui() {
        assert_eq!(
            safe_next(Some("/ui/executions?state=FAILED")),
            "/ui/executions?state=FAILED"
        );
        for outside in [
            "https://evil.example/ui",
            "//evil.example",
            "/api/v1/flows",
            "/ui/login",
        ] {
            assert_eq!(safe_next(Some(outside)), "/ui/flows", "{outside}");
        }
        assert_eq!(safe_next(None), "/ui/flows");
    }
}
