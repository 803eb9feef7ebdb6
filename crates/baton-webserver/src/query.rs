//! Query strings with repeated keys (`?labels=a:1&labels=b:2&state=RUNNING&state=PAUSED`).
//!
//! Handlers take `Query<Vec<(String, String)>>`, which cannot fail to extract, and read their
//! parameters through [`Params`], so a bad value becomes an [`ApiError`] naming the parameter
//! rather than axum's plain-text rejection.

use std::str::FromStr;

use indexmap::IndexMap;

use crate::error::{ApiError, ApiResult};

pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// The last value of `key`; an empty value counts as absent (`?revision=`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every non-empty value of `key`, in order.
    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `key` parsed as `T`, or 400 naming the parameter.
    pub fn parse<T: FromStr>(&self, key: &str) -> ApiResult<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key)
            .map(|text| {
                text.parse().map_err(|error| {
                    ApiError::BadRequest(format!("query parameter {key}={text:?}: {error}"))
                })
            })
            .transpose()
    }

    /// Repeated `labels=key:value` parameters.
    pub fn labels(&self) -> ApiResult<IndexMap<String, String>> {
        self.all("labels")
            .map(|label| match label.split_once(':') {
                Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
                _ => Err(ApiError::BadRequest(format!(
                    "query parameter labels={label:?}: expected key:value"
                ))),
            })
            .collect()
    }
}
