//! OpenID Connect login for the pages: the authorization-code flow with PKCE, the provider discovered once at
//! start, `state` and `nonce` checked, the ID token verified (signature against the provider's keys, issuer,
//! audience, expiry, nonce). A login always opens a new session with a new id; logout ends it in the database
//! and, when the provider offers RP-initiated logout, at the provider too.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, LogoutRequest, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::error::PageError;
use super::pages::{Layout, local_path};
use super::session::{self, LOGIN_COOKIE, SESSION_COOKIE};
use super::{WebConfig, security};
use crate::domain::actor::Actor;
use crate::domain::audit::Action as Audited;
use crate::shared::AppState;
use crate::shared::jwt::OidcSettings;
use crate::storage::audit;
use crate::storage::web_sessions::{self, NewSession};

type LoginClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How long a person may take at the provider before the login must start again.
const LOGIN_WINDOW_MINUTES: i64 = 10;

/// The relying party, set up once at start from the provider's discovery document.
pub struct OidcLogin {
    client: LoginClient,
    http: reqwest::Client,
    settings: OidcSettings,
    scopes: Vec<String>,
    end_session: Option<EndSessionUrl>,
    public_url: String,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("issuer", &self.settings.issuer)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// What the login cookie carries between `/login` and the callback.
#[derive(Debug, Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
}

impl OidcLogin {
    /// The origin browsers reach this server at (`scheme://host[:port]` of `--public-url`): the only one
    /// page forms may be posted from.
    pub fn public_origin(&self) -> String {
        crate::shared::origin::origin_of(&self.public_url)
            .unwrap_or_else(|| self.public_url.clone())
    }

    /// Discovers the provider. `public_url` is where browsers reach this server; the callback is under it.
    pub async fn discover(
        settings: OidcSettings,
        client_secret: Option<secrecy::SecretString>,
        public_url: &str,
        scopes: Vec<String>,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            // Following redirects from the provider's endpoints would let them point the server anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|err| format!("cannot build an HTTP client: {err}"))?;
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|err| format!("--oidc-issuer is not a URL: {err}"))?;
        let metadata = ProviderMetadataWithLogout::discover_async(issuer, &http)
            .await
            .map_err(|err| {
                format!(
                    "cannot read the OpenID configuration of {}: {err}",
                    settings.issuer
                )
            })?;
        let end_session = metadata.additional_metadata().end_session_endpoint.clone();
        let public_url = public_url.trim_end_matches('/').to_owned();
        let redirect = RedirectUrl::new(format!("{public_url}/auth/callback"))
            .map_err(|err| format!("--public-url is not a URL: {err}"))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(settings.audience.clone()),
            client_secret.map(|secret| {
                use secrecy::ExposeSecret;
                ClientSecret::new(secret.expose_secret().to_owned())
            }),
        )
        .set_redirect_uri(redirect);
        Ok(OidcLogin {
            client,
            http,
            settings,
            scopes,
            end_session,
            public_url,
        })
    }

    /// The origin of the provider's logout page, which the sign-out form leads to.
    pub fn end_session_origin(&self) -> Option<String> {
        let url = self.end_session.as_ref()?.url();
        Some(url.origin().ascii_serialization()).filter(|origin| origin != "null")
    }

    /// The role and name of a person from their verified claims, asking the userinfo endpoint when the ID
    /// token does not carry the role claim.
    async fn identify(
        &self,
        id_claims: &Value,
        access_token: &openidconnect::AccessToken,
    ) -> Result<(String, Option<crate::domain::role::Role>), PageError> {
        let name = OidcSettings::name_of(id_claims);
        if let Some(role) = self.settings.role_of(id_claims) {
            return Ok((name, Some(role)));
        }
        let Ok(request) = self.client.user_info(access_token.clone(), None) else {
            return Ok((name, None));
        };
        let info: Result<openidconnect::core::CoreUserInfoClaims, _> =
            request.request_async(&self.http).await;
        if info.is_err() {
            tracing::info!("the provider's userinfo endpoint did not answer; no role from it");
            return Ok((name, None));
        }
        // The typed claims drop unknown ones such as `groups`: ask again for the raw JSON.
        let Some(url) = self
            .client
            .user_info_url()
            .map(|url| url.url().as_str().to_owned())
        else {
            return Ok((name, None));
        };
        let raw: Value = self
            .http
            .get(url)
            .bearer_auth(access_token.secret())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| PageError::LoginFailed(format!("the userinfo endpoint failed: {err}")))?
            .json()
            .await
            .map_err(|_| PageError::LoginFailed("the userinfo answer is not JSON".to_owned()))?;
        if raw["sub"] != id_claims["sub"] {
            return Err(PageError::LoginFailed(
                "the userinfo answer is about someone else".to_owned(),
            ));
        }
        Ok((name, self.settings.role_of(&raw)))
    }
}

/// The payload of a JWT whose signature has been verified already, as JSON.
fn verified_payload(token: &CoreIdToken) -> Option<Value> {
    let text = token.to_string();
    let payload = text.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn login_of(config: &WebConfig) -> Result<&OidcLogin, PageError> {
    config
        .login
        .as_deref()
        .ok_or_else(|| PageError::NotFound("the login (authentication is off)".to_owned()))
}

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

/// `GET /login?next=/path`: off to the provider.
pub async fn start(
    query: web::Query<StartQuery>,
    config: web::Data<WebConfig>,
) -> Result<HttpResponse, PageError> {
    let next = local_path(query.next.as_deref());
    let Some(login) = config.login.as_deref() else {
        // Local mode has nothing to log in to.
        return Ok(see_other(&next));
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = login
        .client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in &login.scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (url, csrf, nonce) = request.url();
    let pending = PendingLogin {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: verifier.secret().clone(),
        next,
    };
    let value =
        serde_json::to_string(&pending).map_err(|err| PageError::Internal(Box::new(err)))?;
    let cookie = session::sealed(
        &config,
        LOGIN_COOKIE,
        value,
        Some(time::Duration::minutes(LOGIN_WINDOW_MINUTES)),
    );
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(cookie)
        .finish())
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: back from the provider with a code.
pub async fn callback(
    request: HttpRequest,
    query: web::Query<CallbackQuery>,
    state: web::Data<AppState>,
    config: web::Data<WebConfig>,
) -> Result<HttpResponse, PageError> {
    let login = login_of(&config)?;
    if let Some(error) = &query.error {
        // The provider's error code is a short token; never echo free text from the query into the page.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(PageError::LoginFailed(format!(
            "the identity provider refused it ({code})"
        )));
    }
    let pending: PendingLogin = session::opened(&config, &request, LOGIN_COOKIE)
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| {
            PageError::LoginFailed(
                "it took too long, or it was started in another browser".to_owned(),
            )
        })?;
    let returned_state = query.state.as_deref().unwrap_or_default();
    if !constant_time_eq(returned_state.as_bytes(), pending.state.as_bytes()) {
        return Err(PageError::LoginFailed(
            "the answer does not belong to this login (state mismatch)".to_owned(),
        ));
    }
    let code = query
        .code
        .clone()
        .ok_or_else(|| PageError::LoginFailed("the provider sent no code".to_owned()))?;
    let exchange = login
        .client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|err| PageError::LoginFailed(format!("no token endpoint: {err}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()));
    let tokens = exchange.request_async(&login.http).await.map_err(|err| {
        tracing::warn!(error = %err, "the code exchange failed");
        PageError::LoginFailed("the provider did not accept the code".to_owned())
    })?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| PageError::LoginFailed("the provider sent no ID token".to_owned()))?;
    let verifier = login.client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &Nonce::new(pending.nonce.clone()))
        .map_err(|err| {
            tracing::warn!(error = %err, "an ID token was refused");
            PageError::LoginFailed("the ID token is not valid".to_owned())
        })?;
    if let Some(expected) = claims.access_token_hash() {
        let algorithm = id_token
            .signing_alg()
            .map_err(|_| PageError::LoginFailed("the ID token is not valid".to_owned()))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|_| PageError::LoginFailed("the ID token is not valid".to_owned()))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), algorithm, key)
            .map_err(|_| PageError::LoginFailed("the ID token is not valid".to_owned()))?;
        if actual != *expected {
            return Err(PageError::LoginFailed(
                "the access token does not match the ID token".to_owned(),
            ));
        }
    }
    let raw_claims = verified_payload(id_token)
        .ok_or_else(|| PageError::LoginFailed("the ID token is not valid".to_owned()))?;
    let (name, role) = login.identify(&raw_claims, tokens.access_token()).await?;
    let person = Actor {
        id: format!("oidc:{}", claims.subject().as_str()),
        name: name.clone(),
        source: crate::shared::source_of(&request),
    };
    let Some(role) = role else {
        tracing::info!(user = %name, "a login maps to no role");
        let mut conn = state.pool.acquire().await?;
        audit::append(
            &mut conn,
            &person,
            Audited::LoginRefused,
            None,
            &serde_json::json!({ "reason": "no role" }),
        )
        .await?;
        let mut response = PageError::NoRole { name }.error_response();
        let _ = response.add_cookie(&session::removal(&config, LOGIN_COOKIE));
        return Ok(response);
    };

    let mut conn = state.pool.begin().await?;
    // A login always gets a new session id: whatever id the browser held before is ended, never promoted.
    if let Some(old) = session::opened(&config, &request, SESSION_COOKIE) {
        web_sessions::end(&mut conn, &session::id_hash(&old)).await?;
    }
    let id = session::random_token();
    let expires_at = OffsetDateTime::now_utc() + config.absolute_timeout;
    web_sessions::insert(
        &mut conn,
        &NewSession {
            id_hash: &session::id_hash(&id),
            subject: claims.subject().as_str(),
            display_name: &name,
            role: role.as_str(),
            csrf_token: &session::random_token(),
            // Not kept: a stored ID token is a bearer credential waiting in a table. Sign-out names this
            // client instead (`client_id`), which RP-initiated logout allows.
            id_token: None,
            expires_at,
        },
    )
    .await?;
    audit::append(
        &mut conn,
        &person,
        Audited::Login,
        None,
        &serde_json::json!({ "role": role.as_str() }),
    )
    .await?;
    conn.commit().await?;
    tracing::info!(user = %name, role = %role, "signed in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, pending.next.clone()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(session::sealed(&config, SESSION_COOKIE, id, None))
        .cookie(session::removal(&config, LOGIN_COOKIE))
        .finish())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout` (a form with the session's token): ends the session here and, if it can, at the provider.
pub async fn logout(
    request: HttpRequest,
    form: web::Form<LogoutForm>,
    state: web::Data<AppState>,
    config: web::Data<WebConfig>,
) -> Result<HttpResponse, PageError> {
    let config: &WebConfig = &config;
    let Some(login) = config.login.as_deref() else {
        return Ok(see_other("/"));
    };
    let Some(id) = session::opened(config, &request, SESSION_COOKIE) else {
        return Ok(see_other("/logged-out"));
    };
    let hash = session::id_hash(&id);
    let mut conn = state.pool.acquire().await?;
    let idle_since = OffsetDateTime::now_utc() - config.idle_timeout;
    let Some(row) = web_sessions::touch(&mut conn, &hash, idle_since).await? else {
        let mut response = see_other("/logged-out");
        let _ = response.add_cookie(&session::removal(config, SESSION_COOKIE));
        return Ok(response);
    };
    if !constant_time_eq(form.csrf.as_bytes(), row.csrf_token.as_bytes()) {
        return Err(PageError::BadRequest(
            "the form is not from this session (its token does not match)".to_owned(),
        ));
    }
    web_sessions::end(&mut conn, &hash).await?;
    audit::append(
        &mut conn,
        &Actor {
            id: format!("oidc:{}", row.subject),
            name: row.display_name.clone(),
            source: crate::shared::source_of(&request),
        },
        Audited::Logout,
        None,
        &serde_json::json!({}),
    )
    .await?;
    tracing::info!(user = %row.display_name, "signed out");
    let location = match &login.end_session {
        Some(endpoint) => {
            let mut logout = LogoutRequest::from(endpoint.clone())
                .set_client_id(ClientId::new(login.settings.audience.clone()));
            if let Ok(redirect) =
                PostLogoutRedirectUrl::new(format!("{}/logged-out", login.public_url))
            {
                logout = logout.set_post_logout_redirect_uri(redirect);
            }
            logout.http_get_url().to_string()
        }
        None => "/logged-out".to_owned(),
    };
    let mut response = see_other(&location);
    let _ = response.add_cookie(&session::removal(config, SESSION_COOKIE));
    Ok(response)
}

#[derive(Template)]
#[template(path = "logged_out.html")]
struct LoggedOut {
    layout: Layout,
}

/// `GET /logged-out`: public.
pub async fn logged_out() -> Result<HttpResponse, PageError> {
    let html = LoggedOut {
        layout: Layout::bare("Signed out"),
    }
    .render()?;
    Ok(security::page(actix_web::http::StatusCode::OK, html))
}
