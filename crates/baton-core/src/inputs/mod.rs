//! Flow inputs: their declared types, static checks of the declaration, and coercion of the values
//! a user supplies.
