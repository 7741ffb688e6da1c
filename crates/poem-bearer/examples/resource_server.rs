//! An API accepting a company's tokens (Keycloak, Auth0, any OpenID issuer): `ISSUER=https://
//! sso.example.com/realms/acme AUDIENCE=notes cargo run -p poem-bearer --example resource_server`
use poem::{Endpoint, EndpointExt, Route, Server, listener::TcpListener};
use poem_bearer::{Bearer, Requirement, Schemes, SettingsError, TrustedIssuer, Validator};
use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, payload::PlainText};

#[derive(Clone, Copy, OAuthScopes)]
pub enum Scope {
    /// Write notes
    #[oai(rename = "notes:write")]
    NotesWrite,
}
pub struct NotesApi;
impl Schemes for NotesApi {
    type Scope = Scope;
    const TOKEN_URL: Option<&'static str> = None; // tokens come from the issuer
}
pub struct WriteNotes;
impl Requirement for WriteNotes {
    type Schemes = NotesApi;
    const ANY_OF: &'static [Scope] = &[Scope::NotesWrite];
}
pub struct Notes;
#[OpenApi]
impl Notes {
    #[oai(path = "/notes", method = "post")]
    async fn create(
        &self,
        #[oai(scope = "Scope::NotesWrite")] auth: Bearer<WriteNotes>,
    ) -> PlainText<String> {
        PlainText(format!("created by {}", auth.client_id))
    }
}
pub async fn app(issuer: &str, audience: &str) -> Result<impl Endpoint + use<>, SettingsError> {
    let base = issuer.trim_end_matches('/'); // Auth0's issuer ends with `/`
    let validator = Validator::builder("notes")
        .trust(TrustedIssuer {
            issuer: issuer.into(),
            discovery_url: Some(format!("{base}/.well-known/openid-configuration")),
            audience: audience.into(),
            typ: Some("JWT".into()), // Keycloak and Auth0 send typ: JWT
            ..TrustedIssuer::default()
        })
        .build()
        .await?;
    let api = OpenApiService::new(Notes, "Notes", "1.0");
    Ok(Route::new()
        .nest("/docs", api.swagger_ui())
        .nest("/", api)
        .data(validator))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = app(&std::env::var("ISSUER")?, &std::env::var("AUDIENCE")?).await?;
    Server::new(TcpListener::bind("127.0.0.1:3000"))
        .run(app)
        .await?;
    Ok(())
}
