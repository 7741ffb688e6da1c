//! `GET /health`: liveness for load balancers and orchestrators.

use poem_openapi::{Object, OpenApi, payload::Json};

use crate::openapi::ApiTag;

#[derive(Debug, Object)]
pub struct Health {
    /// Always `ok` while the process serves requests.
    pub status: String,
}

pub struct HealthApi;

#[OpenApi]
impl HealthApi {
    /// Check that the service is up
    #[oai(
        path = "/health",
        method = "get",
        operation_id = "getHealth",
        tag = "ApiTag::Health"
    )]
    async fn health(&self) -> Json<Health> {
        Json(Health {
            status: "ok".to_owned(),
        })
    }
}
