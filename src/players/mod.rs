//! The players resource.
//!
//! | module | holds |
//! |---|---|
//! | [`model`] | request, validated and response types |
//! | [`store`] | the SQL behind them |
//! | [`api`] | the routes |

pub mod api;
pub mod model;
pub mod store;

pub use api::PlayersApi;
pub use store::PlayerStore;
