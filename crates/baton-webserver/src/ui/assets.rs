//! The UI's stylesheet and script, embedded in the binary at build time.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use crate::ApiError;

const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    ),
];

/// `GET /ui/assets/{file}`. Pages ask for `?v=<hash of the assets>`, so a new release is fetched anew
/// while a browser keeps the current one for a day.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (CONTENT_TYPE, *content_type),
                (CACHE_CONTROL, "public, max-age=86400"),
            ],
            *body,
        )
            .into_response(),
        None => ApiError::NotFound(format!("no asset named {file}")).into_response(),
    }
}

/// What pages append to asset URLs (`?v=`): a hash of the assets, so a browser fetches them
/// anew exactly when they changed.
pub const VERSION: u64 = {
    // FNV-1a, computed at compile time.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut asset = 0;
    while asset < ASSETS.len() {
        let bytes = ASSETS[asset].2.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        asset += 1;
    }
    hash
};
