//! Integration tests: the real server on port 0, driven over HTTP.

mod assertion;
mod cli;
mod clients;
mod cors;
mod dpop;
mod hardening;
mod helpers;
mod keys;
mod lifecycle;
mod openapi;
mod operations;
mod players;
mod policy;
mod postgres;
mod process;
mod protection;
mod startup;
mod throttle;
mod tls;
mod token;
mod trusted;
