//! Templates in Kestra's Pebble dialect, rendered with minijinja behind a rewriting layer.
