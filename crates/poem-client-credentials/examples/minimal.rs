//! A whole API with its own token endpoint: `cargo run -p poem-client-credentials --example
//! minimal`, open http://127.0.0.1:3000/docs, Authorize as `demo` / `demo-secret`, try a write.
use poem::{Endpoint, EndpointExt, Route, Server, listener::TcpListener};
use poem_bearer::keys::{KeyConfig, KeyMaterial, KeySet};
use poem_bearer::{Bearer, Requirement, Schemes, Validator};
use poem_client_credentials::{ClientConfig, ClientDirectory, ClientRegistry, ClientSecret};
use poem_client_credentials::{TOKEN_PATH, TokenApi, TokenEndpoint, TokenIssuer, keys};
use poem_openapi::{OAuthScopes, OpenApi, OpenApiService, payload::PlainText};
use std::{error::Error, sync::Arc};

#[derive(Clone, Copy, OAuthScopes)]
pub enum Scope {
    /// Write notes
    #[oai(rename = "notes:write")]
    NotesWrite,
}
pub struct NotesApi;
impl Schemes for NotesApi {
    type Scope = Scope;
    const TOKEN_URL: Option<&'static str> = Some(TOKEN_PATH); // Swagger UI's Authorize
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

/// The API, with the client `demo` and an HS256 `key` (at least 32 bytes).
pub async fn app(key: &str, demo_secret: &str) -> Result<impl Endpoint + use<>, Box<dyn Error>> {
    let key = KeyConfig {
        key_id: None,
        material: KeyMaterial::Hmac(key.into()),
    };
    let keys = Arc::new(KeySet::new(&key, &[])?);
    let clients = Arc::new(ClientDirectory::new(ClientRegistry::new(&[
        ClientConfig::with_secrets(
            "demo",
            vec![ClientSecret::Plain(demo_secret.into())],
            vec!["notes:write".into()],
        ),
    ])));
    let (issuer, audience) = ("http://127.0.0.1:3000", "notes");
    let signer = TokenIssuer::new(keys.clone(), issuer, audience, 300);
    let endpoint = TokenEndpoint::builder(clients.clone(), signer)
        .realm("notes")
        .build()?;
    let validator = Validator::builder("notes")
        .local(issuer, audience, keys)
        .client_check(move |id| clients.is_enabled(id))
        .build()
        .await?;
    let api = OpenApiService::new((Notes, TokenApi), "Notes", "1.0");
    Ok(Route::new()
        .nest("/docs", api.swagger_ui())
        .nest("/", api)
        .data(endpoint)
        .data(validator))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let key = keys::generate(jsonwebtoken::Algorithm::HS256)?.secret_or_private_pem;
    let app = app(&key, "demo-secret").await?;
    Ok(Server::new(TcpListener::bind("127.0.0.1:3000"))
        .run(app)
        .await?)
}
