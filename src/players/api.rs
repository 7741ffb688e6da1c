//! The players routes. Reads are anonymous; every write takes [`BearerAuth`] first, so
//! authentication is settled before the body is looked at.

use poem::{Request, RequestBody, web::Data};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, OpenApi,
    param::Path,
    payload::Json,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::Type,
};
// A trusted issuer chooses its own client ids: log lines hold them bounded and escaped.
use poem_client_credentials::events::bounded_id;
use uuid::Uuid;

use super::{
    model::{NewPlayer, Player, PlayerRequest},
    store::PlayerStore,
};
use crate::{
    auth::{
        BearerAuth,
        scopes::{CreatePlayers, DeletePlayers, Scope, UpdatePlayers},
    },
    error::{Error, ProblemJson},
    request::{self, BodyError},
    tags::ApiTag,
};

/// A player request body: `application/json`, at most `limits.body_bytes`, parsed field by field so a
/// client learns every mistake at once (422 with `errors`), while a body that is not
/// JSON at all is a 400.
pub struct PlayerBody(pub NewPlayer);

impl<'a> ApiExtractor<'a> for PlayerBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        PlayerRequest::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: PlayerRequest::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if !request::media_type(request).is_some_and(|m| request::is_json(&m)) {
            return Err(
                Error::UnsupportedMediaType("The request body must be application/json").into(),
            );
        }
        let limit = request
            .data::<request::BodyLimit>()
            .copied()
            .unwrap_or_default();
        let bytes = request::read_body(request, body, limit)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => Error::PayloadTooLarge,
                BodyError::TimedOut => Error::BodyTimeout,
                BodyError::Unreadable => Error::BadRequest("The request body could not be read"),
            })?;
        let value = match request::json_object_members(&bytes) {
            Some(members) => {
                if request::repeated_name(&members).is_some() {
                    return Err(Error::BadRequest(
                        "The request body names a member more than once",
                    )
                    .into());
                }
                serde_json::Value::Object(members.into_iter().collect())
            }
            // Not an object: valid JSON is reported field by field (422), the rest is 400.
            None => serde_json::from_slice(&bytes)
                .map_err(|_| Error::BadRequest("The request body is not valid JSON"))?,
        };
        Ok(PlayerBody(
            NewPlayer::parse(&value).map_err(Error::Validation)?,
        ))
    }
}

#[derive(ApiResponse)]
#[allow(dead_code)] // error variants document what `Error` renders
pub enum ListResponse {
    /// Every player, by squad number.
    #[oai(status = 200)]
    Ok(Json<Vec<Player>>),
    /// The database cannot be reached or written; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        ProblemJson,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

#[derive(ApiResponse)]
#[allow(dead_code)] // error variants document what `Error` renders
pub enum GetResponse {
    /// The player.
    #[oai(status = 200)]
    Ok(Json<Player>),
    /// The path value is not of the expected form.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No such player.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The database cannot be reached or written; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        ProblemJson,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

#[derive(ApiResponse)]
#[allow(dead_code)] // error variants document what `Error` renders
pub enum CreateResponse {
    /// The player was created.
    #[oai(status = 201)]
    Created(
        Json<Player>,
        /// The new player's URL.
        #[oai(header = "Location")]
        String,
    ),
    /// The body is not JSON.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No valid token: a Bearer token, or a DPoP-bound one with a good proof
    /// (`invalid_dpop_proof`, `use_dpop_nonce`).
    #[oai(status = 401)]
    Unauthorized(
        ProblemJson,
        /// The challenges, one field each: Bearer (RFC 6750) and DPoP (RFC 9449), the
        /// scheme the request used first and alone with the error.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The token lacks the scope this write needs.
    #[oai(status = 403)]
    Forbidden(
        ProblemJson,
        /// The challenges (Bearer, DPoP), the one of the scheme used first, naming the
        /// scopes that would do.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// Another player already has this squad number.
    #[oai(status = 409)]
    Conflict(ProblemJson),
    /// The body is larger than `limits.body_bytes` (64 KiB by default).
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The body is JSON but not a valid player; `errors` names each field.
    #[oai(status = 422)]
    UnprocessableEntity(ProblemJson),
    /// The database cannot be reached or written; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        ProblemJson,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

#[derive(ApiResponse)]
#[allow(dead_code)] // error variants document what `Error` renders
pub enum UpdateResponse {
    /// The player was replaced.
    #[oai(status = 204)]
    NoContent,
    /// The path value or the body is not of the expected form, or the body's squad
    /// number differs from the path's.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No valid token: a Bearer token, or a DPoP-bound one with a good proof
    /// (`invalid_dpop_proof`, `use_dpop_nonce`).
    #[oai(status = 401)]
    Unauthorized(
        ProblemJson,
        /// The challenges, one field each: Bearer (RFC 6750) and DPoP (RFC 9449), the
        /// scheme the request used first and alone with the error.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The token lacks the scope this write needs.
    #[oai(status = 403)]
    Forbidden(
        ProblemJson,
        /// The challenges (Bearer, DPoP), the one of the scheme used first, naming the
        /// scopes that would do.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// No player has this squad number.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The body is larger than `limits.body_bytes` (64 KiB by default).
    #[oai(status = 413)]
    PayloadTooLarge(ProblemJson),
    /// The body is not `application/json`.
    #[oai(status = 415)]
    UnsupportedMediaType(ProblemJson),
    /// The body is JSON but not a valid player; `errors` names each field.
    #[oai(status = 422)]
    UnprocessableEntity(ProblemJson),
    /// The database cannot be reached or written; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        ProblemJson,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

#[derive(ApiResponse)]
#[allow(dead_code)] // error variants document what `Error` renders
pub enum DeleteResponse {
    /// The player was deleted.
    #[oai(status = 204)]
    NoContent,
    /// The path value is not of the expected form.
    #[oai(status = 400)]
    BadRequest(ProblemJson),
    /// No valid token: a Bearer token, or a DPoP-bound one with a good proof
    /// (`invalid_dpop_proof`, `use_dpop_nonce`).
    #[oai(status = 401)]
    Unauthorized(
        ProblemJson,
        /// The challenges, one field each: Bearer (RFC 6750) and DPoP (RFC 9449), the
        /// scheme the request used first and alone with the error.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// The token lacks the scope this write needs.
    #[oai(status = 403)]
    Forbidden(
        ProblemJson,
        /// The challenges (Bearer, DPoP), the one of the scheme used first, naming the
        /// scopes that would do.
        #[oai(header = "WWW-Authenticate")]
        String,
    ),
    /// No player has this squad number.
    #[oai(status = 404)]
    NotFound(ProblemJson),
    /// The database cannot be reached or written; retry after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(
        ProblemJson,
        /// Seconds to wait.
        #[oai(header = "Retry-After")]
        u64,
    ),
}

/// The detail of a 404 for a player path.
pub const NO_SUCH_PLAYER: &str = "No player matches this path";

/// The players resource.
pub struct PlayersApi;

#[OpenApi(tag = "ApiTag::Players")]
impl PlayersApi {
    /// List all players
    #[oai(path = "/players", method = "get", operation_id = "listPlayers")]
    async fn list(&self, store: Data<&PlayerStore>) -> Result<ListResponse, Error> {
        Ok(ListResponse::Ok(Json(store.all().await?)))
    }

    /// Get a player by id
    #[oai(path = "/players/:id", method = "get", operation_id = "getPlayerById")]
    async fn get_by_id(
        &self,
        store: Data<&PlayerStore>,
        /// The player's id (a UUID).
        id: Path<Uuid>,
    ) -> Result<GetResponse, Error> {
        let player = store
            .by_id(id.0)
            .await?
            .ok_or(Error::NotFound(NO_SUCH_PLAYER))?;
        Ok(GetResponse::Ok(Json(player)))
    }

    /// Get a player by squad number
    #[oai(
        path = "/players/squadnumber/:squad_number",
        method = "get",
        operation_id = "getPlayerBySquadNumber"
    )]
    async fn get_by_squad_number(
        &self,
        store: Data<&PlayerStore>,
        /// The player's squad number.
        squad_number: Path<i64>,
    ) -> Result<GetResponse, Error> {
        let player = store
            .by_squad_number(squad_number.0)
            .await?
            .ok_or(Error::NotFound(NO_SUCH_PLAYER))?;
        Ok(GetResponse::Ok(Json(player)))
    }

    /// Create a player
    ///
    /// Needs a Bearer token. The squad number must be free.
    #[oai(path = "/players", method = "post", operation_id = "createPlayer")]
    async fn create(
        &self,
        #[oai(scope = "Scope::PlayersCreate", scope = "Scope::ApiWrite")] auth: BearerAuth<
            CreatePlayers,
        >,
        store: Data<&PlayerStore>,
        body: PlayerBody,
    ) -> Result<CreateResponse, Error> {
        let player = store.create(body.0).await?;
        tracing::info!(client_id = ?bounded_id(&auth.client_id), issuer = ?bounded_id(&auth.issuer), squad_number = player.squad_number, "player created");
        let location = format!("/players/{}", player.id);
        Ok(CreateResponse::Created(Json(player), location))
    }

    /// Replace a player
    ///
    /// Needs a Bearer token. Replaces every field of the player with this squad number
    /// (last writer wins); the body's squad number must be the same as the path's.
    #[oai(
        path = "/players/squadnumber/:squad_number",
        method = "put",
        operation_id = "updatePlayer"
    )]
    async fn update(
        &self,
        #[oai(scope = "Scope::PlayersUpdate", scope = "Scope::ApiWrite")] auth: BearerAuth<
            UpdatePlayers,
        >,
        store: Data<&PlayerStore>,
        /// The player's squad number.
        squad_number: Path<i64>,
        body: PlayerBody,
    ) -> Result<UpdateResponse, Error> {
        if body.0.squad_number.get() != squad_number.0 {
            return Err(Error::BadRequest(
                "The squad number in the body differs from the one in the path",
            ));
        }
        if !store.replace(body.0).await? {
            return Err(Error::NotFound(NO_SUCH_PLAYER));
        }
        tracing::info!(client_id = ?bounded_id(&auth.client_id), issuer = ?bounded_id(&auth.issuer), squad_number = squad_number.0, "player replaced");
        Ok(UpdateResponse::NoContent)
    }

    /// Delete a player
    ///
    /// Needs a Bearer token.
    #[oai(
        path = "/players/squadnumber/:squad_number",
        method = "delete",
        operation_id = "deletePlayer"
    )]
    async fn delete(
        &self,
        #[oai(scope = "Scope::PlayersDelete", scope = "Scope::ApiWrite")] auth: BearerAuth<
            DeletePlayers,
        >,
        store: Data<&PlayerStore>,
        /// The player's squad number.
        squad_number: Path<i64>,
    ) -> Result<DeleteResponse, Error> {
        if !store.delete(squad_number.0).await? {
            return Err(Error::NotFound(NO_SUCH_PLAYER));
        }
        tracing::info!(client_id = ?bounded_id(&auth.client_id), issuer = ?bounded_id(&auth.issuer), squad_number = squad_number.0, "player deleted");
        Ok(DeleteResponse::NoContent)
    }
}
