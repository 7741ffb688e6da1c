//! `GET /health` (liveness: the process serves) and `GET /health/ready` (readiness: its
//! database answers), for load balancers and orchestrators.

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};

use crate::{
    error::{Error, ProblemJson},
    players::PlayerStore,
    tags::ApiTag,
};

#[derive(ApiResponse)]
#[allow(dead_code)] // the 503 variant documents what `Error` renders
pub enum ReadyResponse {
    /// The database answers.
    #[oai(status = 200)]
    Ok(Json<Health>),
    /// The database cannot be reached.
    #[oai(status = 503)]
    Unavailable(
        ProblemJson,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

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

    /// Check that the service can serve requests (its database answers)
    #[oai(
        path = "/health/ready",
        method = "get",
        operation_id = "getReadiness",
        tag = "ApiTag::Health"
    )]
    async fn ready(&self, store: Data<&PlayerStore>) -> Result<ReadyResponse, Error> {
        store.ping().await?;
        Ok(ReadyResponse::Ok(Json(Health {
            status: "ok".to_owned(),
        })))
    }
}
