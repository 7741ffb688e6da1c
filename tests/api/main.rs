//! Integration tests: the real server on port 0, driven over HTTP.

mod helpers;
mod openapi;
mod players;
mod protection;
mod startup;
mod token;
