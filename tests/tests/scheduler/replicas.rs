//! Several scheduler processes.
