//! The route table: every route of the facade, with its method, path, authentication,
//! request body, the response body of each status code, and the handler that serves it.
//!
//! Adding a route is one entry in the table below plus its handler. The OpenAPI document
//! is generated from the table, the HTTP router is built by walking it, and the typed
//! client calls any of its routes by operation id, so a route cannot be served without
//! being documented, nor documented without being served.
//!
//! An entry's `handler` is a non-capturing closure that makes the route's
//! `axum::routing::MethodRouter` from its method, such as `|m| on(m, auth::login)`, with
//! any layer of that route alone (the webhook's larger body limit). It is written as the
//! server's router names things, and only the router compiles it: [`ROUTES`] carries the
//! rest of each entry, so the document and the client need nothing of the server.

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::contract::*;

/// An HTTP method the facade uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The lowercase name, as OpenAPI's path items key it.
    pub fn as_lowercase(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }
}

/// How a route authenticates its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Anyone may call it.
    Public,
    /// `Authorization: Bearer <JWT>` from `/auth/login` or `/auth/register`.
    Bearer,
    /// Stripe's `stripe-signature` header over the raw body.
    StripeSignature,
}

/// A group of routes in the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Liveness and the API description.
    Meta,
    /// Accounts and sessions.
    Auth,
    /// Assistants.
    Instances,
    /// Subscriptions and payments.
    Billing,
}

impl Tag {
    /// Every tag, in document order.
    pub const ALL: [Tag; 4] = [Tag::Meta, Tag::Auth, Tag::Instances, Tag::Billing];

    /// The tag's name.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Meta => "Meta",
            Tag::Auth => "Auth",
            Tag::Instances => "Instances",
            Tag::Billing => "Billing",
        }
    }

    /// What the tag's routes are for.
    pub fn description(self) -> &'static str {
        match self {
            Tag::Meta => "Liveness and this API description",
            Tag::Auth => "Accounts and sessions",
            Tag::Instances => "Assistants: one Telegram bot on one Fly.io machine each",
            Tag::Billing => "Stripe subscriptions, payments and webhooks",
        }
    }
}

/// Writes the schema of a body into a generator and returns a reference to it.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema function of `T`.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// A request or response body.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// No body.
    Empty,
    /// `application/json` with this schema.
    Json(SchemaFn),
    /// The OpenAPI document itself (`application/json`).
    OpenApi,
    /// An HTML page.
    Html,
}

/// One documented response of a route.
#[derive(Clone, Copy, Debug)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// When this response is sent.
    pub description: &'static str,
    /// What it carries.
    pub body: Body,
}

/// One route of the facade.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path, with parameters in braces as both OpenAPI and axum write them.
    pub path: &'static str,
    /// Document group.
    pub tag: Tag,
    /// One line on what the route does.
    pub summary: &'static str,
    /// More on what it does, where there is more to say.
    pub description: &'static str,
    /// How callers authenticate.
    pub auth: Auth,
    /// The request body.
    pub request: Body,
    /// Every response it can send, by status.
    pub responses: &'static [Response],
}

impl Route {
    /// The operation id, named as the original client named its functions: the method
    /// followed by the path's words, `{id}` read as `ById` (`postInstancesByIdStart`).
    pub fn operation_id(&self) -> String {
        let mut id = self.method.as_lowercase().to_owned();
        for segment in self.path.split('/').filter(|s| !s.is_empty()) {
            if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                id.push_str("By");
                push_pascal_case(&mut id, param);
            } else {
                push_pascal_case(&mut id, segment);
            }
        }
        id
    }

    /// The names of the path's parameters, in order.
    pub fn path_params(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
    }
}

fn push_pascal_case(out: &mut String, words: &str) {
    for word in words.split(['-', '_', '.']).filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
}

const fn ok(status: u16, description: &'static str, body: SchemaFn) -> Response {
    Response {
        status,
        description,
        body: Body::Json(body),
    }
}

const fn error(status: u16, description: &'static str) -> Response {
    Response {
        status,
        description,
        body: Body::Json(schema_of::<ErrorBody>),
    }
}

const INVALID: Response = error(
    400,
    "The body or a parameter is invalid; the message names the field and the rule",
);
const UNAUTHORIZED: Response = error(
    401,
    "Missing, invalid or expired bearer token, or the account no longer exists",
);
const INSTANCE_NOT_FOUND: Response = error(404, "No such instance among the caller's");
const TOO_MANY: Response = error(
    429,
    "Too many attempts from this address or for this account; retry after `Retry-After` seconds",
);
const INTERNAL: Response = error(500, "An unexpected failure; details are in the server log");
const UNAVAILABLE: Response = error(
    503,
    "A service the facade depends on (Kubernetes, Postgres, Stripe) cannot be reached",
);

/// Declares [`ROUTES`] from the entries of the table, and for the server's router
/// `route_handlers!()`, the array of the entries' `handler`s in the same order. Every
/// entry starts with its `handler`, followed by the fields of [`Route`].
macro_rules! route_table {
    ($(Route { handler: $handler:expr, $($field:ident: $value:expr),* $(,)? }),* $(,)?) => {
        /// Every route of the facade, in document order.
        pub static ROUTES: &[Route] = &[$(Route { $($field: $value),* }),*];

        /// The handler of each route of [`ROUTES`], in the same order, as an array of
        /// closures from an `axum::routing::MethodFilter` to a `MethodRouter`. Expanded
        /// in the server's router, where the names the handlers use resolve.
        macro_rules! route_handlers {
            () => {
                [$($handler),*]
            };
        }
        pub(crate) use route_handlers;
    };
}

route_table!(
    Route {
        handler: |m| on(m, meta::health),
        method: Method::Get,
        path: "/health",
        tag: Tag::Meta,
        summary: "Report that the service is up",
        description: "",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[ok(200, "The service is up", schema_of::<HealthResponse>)],
    },
    Route {
        handler: |m| on(m, meta::ready),
        method: Method::Get,
        path: "/ready",
        tag: Tag::Meta,
        summary: "Report whether the service can serve",
        description: "Ready once Postgres answers and the cache of Instances is filled.",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[
            ok(200, "Ready to serve", schema_of::<ReadyResponse>),
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, meta::openapi_document),
        method: Method::Get,
        path: "/openapi.json",
        tag: Tag::Meta,
        summary: "This OpenAPI document",
        description: "",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[Response {
            status: 200,
            description: "The OpenAPI 3.1 document",
            body: Body::OpenApi,
        }],
    },
    Route {
        handler: |m| on(m, meta::docs_page),
        method: Method::Get,
        path: "/docs",
        tag: Tag::Meta,
        summary: "Browsable documentation of this API",
        description: "",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[Response {
            status: 200,
            description: "An HTML page rendering this document",
            body: Body::Html,
        }],
    },
    Route {
        handler: |m| on(m, meta::openapi_document),
        method: Method::Get,
        path: "/docs/json",
        tag: Tag::Meta,
        summary: "This OpenAPI document, where the original API served it",
        description: "",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[Response {
            status: 200,
            description: "The OpenAPI 3.1 document",
            body: Body::OpenApi,
        }],
    },
    Route {
        handler: |m| on(m, auth::register),
        method: Method::Post,
        path: "/auth/register",
        tag: Tag::Auth,
        summary: "Create an account and sign in",
        description: "",
        auth: Auth::Public,
        request: Body::Json(schema_of::<RegisterRequest>),
        responses: &[
            ok(
                201,
                "Account created; the session",
                schema_of::<TokenResponse>,
            ),
            INVALID,
            error(409, "An account with this email already exists"),
            TOO_MANY,
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, auth::login),
        method: Method::Post,
        path: "/auth/login",
        tag: Tag::Auth,
        summary: "Sign in with email and password",
        description: "",
        auth: Auth::Public,
        request: Body::Json(schema_of::<LoginRequest>),
        responses: &[
            ok(200, "The session", schema_of::<TokenResponse>),
            INVALID,
            error(401, "Unknown email or wrong password"),
            TOO_MANY,
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, auth::me),
        method: Method::Get,
        path: "/auth/me",
        tag: Tag::Auth,
        summary: "The signed-in user",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The signed-in user", schema_of::<User>),
            UNAUTHORIZED,
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, auth::update_profile),
        method: Method::Patch,
        path: "/auth/profile",
        tag: Tag::Auth,
        summary: "Change the signed-in user's name",
        description: "",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<UpdateProfileRequest>),
        responses: &[
            ok(200, "The updated user", schema_of::<User>),
            INVALID,
            UNAUTHORIZED,
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, auth::update_password),
        method: Method::Patch,
        path: "/auth/password",
        tag: Tag::Auth,
        summary: "Change the signed-in user's password",
        description: "",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<UpdatePasswordRequest>),
        responses: &[
            ok(200, "Password changed", schema_of::<MessageResponse>),
            error(
                400,
                "Invalid body, or the account has no password (it signs in with Google)",
            ),
            error(
                401,
                "Missing or invalid bearer token, or the current password is incorrect",
            ),
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, auth::logout_all),
        method: Method::Post,
        path: "/auth/logout-all",
        tag: Tag::Auth,
        summary: "Sign out everywhere",
        description: "Ends every session of the signed-in account, this one included: \
                      every token issued before is refused from now on.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "Every session ended", schema_of::<MessageResponse>),
            UNAUTHORIZED,
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, auth::delete_account),
        method: Method::Delete,
        path: "/auth/account",
        tag: Tag::Auth,
        summary: "Delete the signed-in user's account",
        description: "An account with a password must send it (`{\"password\"}`); an \
                      account that signs in with Google only sends no body, and its \
                      session must have begun less than 10 minutes ago. Then cancels the \
                      Stripe subscription, deletes every instance (their Fly.io apps and \
                      machines included) and the account. When Stripe cannot cancel the \
                      subscription (after retries), nothing is deleted and the answer is \
                      503.",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<DeleteAccountRequest>),
        responses: &[
            ok(200, "Account deleted", schema_of::<MessageResponse>),
            error(
                400,
                "Invalid body, or the account has a password and none was sent",
            ),
            error(
                401,
                "Missing or invalid bearer token, or the password is incorrect",
            ),
            error(
                403,
                "The account signs in with Google only and its sign-in is older than 10 minutes",
            ),
            TOO_MANY,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, google_sign_in::start),
        method: Method::Get,
        path: "/auth/google",
        tag: Tag::Auth,
        summary: "Start signing in with Google",
        description: "Served when sign-in with Google is configured (`GOOGLE_CLIENT_ID` and \
                      `GOOGLE_CLIENT_SECRET`); otherwise 404. Opened by the browser, not \
                      called: it is sent on to Google with a new `state`, nonce and PKCE \
                      challenge, and holds the `state` in an HttpOnly cookie until the \
                      callback.",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[
            Response {
                status: 302,
                description: "To Google's authorization page; or, when Google cannot be \
                              reached, to `FRONTEND_URL/sign-in?error=oauth_failed`",
                body: Body::Empty,
            },
            error(404, "Sign-in with Google is not configured"),
            TOO_MANY,
        ],
    },
    Route {
        handler: |m| on(m, google_sign_in::callback),
        method: Method::Get,
        path: "/auth/google/callback",
        tag: Tag::Auth,
        summary: "Finish signing in with Google",
        description: "Where Google sends the browser back, with `code` and `state` (or \
                      `error`) in the query. The `state` must be the one in this browser's \
                      cookie and of a sign-in started here within 10 minutes, used once; \
                      Google must say the email is verified. The account linked to the \
                      Google account, or the one with its email (linked now), or a new one \
                      without a password, is signed in.",
        auth: Auth::Public,
        request: Body::Empty,
        responses: &[
            Response {
                status: 302,
                description: "To `FRONTEND_URL/auth/callback?token=<JWT>` with the session; \
                              on any failure to `FRONTEND_URL/sign-in?error=oauth_failed`",
                body: Body::Empty,
            },
            error(404, "Sign-in with Google is not configured"),
        ],
    },
    Route {
        handler: |m| on(m, instances::validate_token),
        method: Method::Post,
        path: "/instances/validate-telegram-token",
        tag: Tag::Instances,
        summary: "Check a Telegram bot token with Telegram",
        description: "Answers 200 whether or not Telegram accepts the token; `valid` tells.",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<ValidateTelegramTokenRequest>),
        responses: &[
            ok(
                200,
                "Whether Telegram accepts the token",
                schema_of::<ValidateTelegramTokenResponse>,
            ),
            INVALID,
            UNAUTHORIZED,
            INTERNAL,
        ],
    },
    Route {
        handler: |m| on(m, instances::create),
        method: Method::Post,
        path: "/instances",
        tag: Tag::Instances,
        summary: "Create an assistant",
        description: "Stores the token encrypted and creates the Instance; provisioning on \
                      Fly.io continues in the background (see provisioning-status).",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<CreateInstanceRequest>),
        responses: &[
            ok(
                201,
                "The new instance, status CREATING",
                schema_of::<InstanceResponse>,
            ),
            INVALID,
            UNAUTHORIZED,
            error(
                403,
                "No active subscription, the plan's instance limit is reached, or the \
                 plan does not include the model (the message names the plan that does)",
            ),
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::list),
        method: Method::Get,
        path: "/instances",
        tag: Tag::Instances,
        summary: "The caller's assistants, newest first",
        description: "Deleted instances are left out.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The instances", schema_of::<InstanceList>),
            UNAUTHORIZED,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::get),
        method: Method::Get,
        path: "/instances/{id}",
        tag: Tag::Instances,
        summary: "One of the caller's assistants",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The instance", schema_of::<InstanceResponse>),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::update),
        method: Method::Patch,
        path: "/instances/{id}",
        tag: Tag::Instances,
        summary: "Change a stopped assistant's name, token or model",
        description: "Only a STOPPED instance takes a change (an empty body changes nothing \
                      and is always accepted); the controller applies it to the machine \
                      without starting it. The region cannot change.",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<UpdateInstanceRequest>),
        responses: &[
            ok(200, "The updated instance", schema_of::<InstanceResponse>),
            error(
                400,
                "Invalid body; the instance is not stopped (`Instance must be stopped \
                 before updating configuration`); or a change it cannot take (region)",
            ),
            UNAUTHORIZED,
            error(
                403,
                "The plan does not include the model (the message names the plan that does)",
            ),
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::delete),
        method: Method::Delete,
        path: "/instances/{id}",
        tag: Tag::Instances,
        summary: "Delete an assistant",
        description: "The controller destroys its Fly.io machine and app.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "Deletion started", schema_of::<SuccessResponse>),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::start),
        method: Method::Post,
        path: "/instances/{id}/start",
        tag: Tag::Instances,
        summary: "Start a stopped assistant",
        description: "Needs an ACTIVE subscription; an instance past the plan's limit (the \
                      most recently created, after a downgrade) stays stopped. Starts it on \
                      the plan's machine size.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(
                200,
                "The instance, status STARTING",
                schema_of::<InstanceResponse>,
            ),
            error(400, "The instance is not stopped"),
            UNAUTHORIZED,
            error(
                403,
                "No active subscription (`Active subscription required...`), or the \
                 instance is past the plan's limit (`Instance limit reached (N)...`)",
            ),
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::stop),
        method: Method::Post,
        path: "/instances/{id}/stop",
        tag: Tag::Instances,
        summary: "Stop a running assistant",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(
                200,
                "The instance, status STOPPING",
                schema_of::<InstanceResponse>,
            ),
            error(400, "The instance is not running"),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::retry),
        method: Method::Post,
        path: "/instances/{id}/retry",
        tag: Tag::Instances,
        summary: "Retry provisioning a failed assistant",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(
                200,
                "The instance; the controller starts it over",
                schema_of::<InstanceResponse>,
            ),
            error(400, "Only failed instances can be retried"),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::sync),
        method: Method::Post,
        path: "/instances/{id}/sync",
        tag: Tag::Instances,
        summary: "Refresh an assistant's status from Fly.io now",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The instance", schema_of::<InstanceResponse>),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, instances::provisioning),
        method: Method::Get,
        path: "/instances/{id}/provisioning-status",
        tag: Tag::Instances,
        summary: "How far provisioning of an assistant has come",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(
                200,
                "The provisioning steps",
                schema_of::<ProvisioningStatusResponse>,
            ),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, pairing::list),
        method: Method::Get,
        path: "/instances/{id}/pairing-requests",
        tag: Tag::Instances,
        summary: "Strangers waiting for the owner's approval",
        description: "An assistant with no `telegramUserIds` answers strangers with a pairing \
                      code. This asks the running assistant who waits now (the controller \
                      runs `openclaw pairing list` in its machine) and answers when it has \
                      listed them. Empty for an assistant with an allowlist.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The pending requests", schema_of::<PairingRequestList>),
            error(400, "Instance is not running"),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            error(502, "The assistant could not list its pairing requests"),
            error(503, "The controller has not answered in time; try again"),
        ],
    },
    Route {
        handler: |m| on(m, pairing::approve),
        method: Method::Post,
        path: "/instances/{id}/pairing-requests/{code}/approve",
        tag: Tag::Instances,
        summary: "Let in the stranger holding a pairing code",
        description: "The code (8 letters and digits, as the assistant sent it) is checked, \
                      then the controller runs `openclaw pairing approve telegram <code>` in \
                      the machine; the stranger's next message is answered. Operators do the \
                      same with the `fasterclaw.io/approve-pairing-code` annotation.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "Approved", schema_of::<PairingApprovalResponse>),
            error(400, "Not a pairing code, or the instance is not running"),
            UNAUTHORIZED,
            error(
                404,
                "No such instance among the caller's, or no stranger holds the code"
            ),
            error(409, "The assistant stopped before it could approve"),
            INTERNAL,
            error(502, "The assistant could not carry out the approval"),
            error(503, "The controller has not answered in time; try again"),
        ],
    },
    Route {
        handler: |m| on(m, snapshots::list),
        method: Method::Get,
        path: "/instances/{id}/snapshots",
        tag: Tag::Instances,
        summary: "Snapshots of an assistant's state, and the volumes a restore can go back to",
        description: "The assistant's state lives on a Fly.io volume, of which Fly.io takes a \
                      snapshot a day (and the controller one before each image change). This \
                      lists them newest first as the controller last recorded them (`listedAt`: \
                      it lists them every 6 hours and after each snapshot or restore), with the \
                      volume in use, the volumes kept after a restore or a move (until \
                      `until`), and the last restore (`Pending` while the controller has not \
                      carried it out). Read from the Instance's status: nothing is asked of \
                      Fly.io. Empty once the instance is gone.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The snapshots and volumes", schema_of::<SnapshotList>),
            UNAUTHORIZED,
            INSTANCE_NOT_FOUND,
            INTERNAL,
            error(
                503,
                "The facade is still loading the instances, or Postgres cannot be reached",
            ),
        ],
    },
    Route {
        handler: |m| on(m, snapshots::restore),
        method: Method::Post,
        path: "/instances/{id}/snapshots/{snapshot}/restore",
        tag: Tag::Instances,
        summary: "Put an assistant's state back as a snapshot holds it, or undo a restore",
        description: "`{snapshot}` is a snapshot id (`vs_…`) from `snapshots`, or a kept volume \
                      (`vol_…`) from `retainedVolumes`: going back to the volume an earlier \
                      restore or move left undoes it. The controller stops the assistant, makes \
                      a new volume from the snapshot (or takes the kept volume), makes the \
                      machine again on it in the same power state, and keeps the volume it \
                      leaves for a while so this can be undone in turn. A RUNNING or STOPPED \
                      instance (or one on its way between) takes a restore; a deleted, paused \
                      or FAILED one does not. The answer comes once the controller has carried \
                      it out (200), or after the facade's wait (`REQUEST_TIMEOUT` less 3 s) \
                      with 202 and `Pending`: `GET /instances/{id}/snapshots` then shows the \
                      result in `lastRestore`. Operators do the same with the \
                      `fasterclaw.io/restore` annotation. No body.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(
                200,
                "Restored: the assistant runs on the volume named in `volume`",
                schema_of::<RestoreResponse>,
            ),
            ok(
                202,
                "Asked; the controller has not carried it out yet (`Pending`)",
                schema_of::<RestoreResponse>,
            ),
            error(
                400,
                "`{snapshot}` is not a snapshot id (`vs_…`) nor a volume id (`vol_…`)",
            ),
            UNAUTHORIZED,
            error(
                404,
                "No such instance among the caller's (`Instance not found`), or no such \
                 snapshot (`No snapshot <id> for this instance`) or kept volume (`No kept \
                 volume <id> for this instance`)",
            ),
            error(
                409,
                "The instance cannot take a restore now (deleted, being deleted, paused or \
                 FAILED), another restore is under way, the last restore was from the same \
                 source, or the controller refused it (its reason in the message)",
            ),
            INTERNAL,
            error(
                503,
                "The facade is still loading the instances, or Kubernetes or Postgres cannot \
                 be reached",
            ),
        ],
    },
    Route {
        handler: |m| on(m, billing::checkout),
        method: Method::Post,
        path: "/billing/checkout",
        tag: Tag::Billing,
        summary: "Start a Stripe Checkout for a plan",
        description: "The Stripe customer is created on first use and remembered. Stripe \
                      sends the browser back to FRONTEND_URL's `/dashboard/billing?success=true` \
                      or `/pricing?canceled=true`. The subscription starts when Stripe's \
                      `checkout.session.completed` event reaches the webhook.",
        auth: Auth::Bearer,
        request: Body::Json(schema_of::<CheckoutRequest>),
        responses: &[
            ok(200, "The Checkout page", schema_of::<CheckoutResponse>),
            error(
                400,
                "Invalid body, or the plan has no Stripe price configured",
            ),
            error(
                409,
                "The caller already has an active subscription to this plan",
            ),
            UNAUTHORIZED,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, billing::portal),
        method: Method::Post,
        path: "/billing/portal",
        tag: Tag::Billing,
        summary: "Open the Stripe Billing Portal",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The Billing Portal page", schema_of::<PortalResponse>),
            error(400, "No billing account yet: subscribe first"),
            UNAUTHORIZED,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, billing::invoices),
        method: Method::Get,
        path: "/billing/invoices",
        tag: Tag::Billing,
        summary: "The caller's last 10 invoices",
        description: "",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(200, "The invoices, newest first", schema_of::<InvoiceList>),
            UNAUTHORIZED,
            INTERNAL,
            UNAVAILABLE,
        ],
    },
    Route {
        handler: |m| on(m, billing::subscription),
        method: Method::Get,
        path: "/billing/subscription",
        tag: Tag::Billing,
        summary: "The caller's active subscription and the plans on offer",
        description: "Only an ACTIVE subscription is returned. `usage` counts the caller's \
                      instances against its limit: after a downgrade an account may hold more \
                      than the limit; the most recently created surplus is stopped and no \
                      more can be created. Each plan lists its models and machine size. \
                      Without an ACTIVE subscription, `lapse` says when the instances stop \
                      and, once announced, when they are deleted.",
        auth: Auth::Bearer,
        request: Body::Empty,
        responses: &[
            ok(
                200,
                "The subscription, or null, and the plans",
                schema_of::<SubscriptionResponse>,
            ),
            UNAUTHORIZED,
            INTERNAL,
        ],
    },
    Route {
        // Stripe's events are larger than the web app's bodies.
        handler: |m| on(m, billing::webhook).layer(DefaultBodyLimit::max(WEBHOOK_BODY_BYTES)),
        method: Method::Post,
        path: "/billing/webhook",
        tag: Tag::Billing,
        summary: "Receive a Stripe event",
        description: "Verified with the `stripe-signature` header over the raw body; a \
                      signature older than STRIPE_WEBHOOK_TOLERANCE (300 s) is a replay. Each \
                      event is processed once, however often Stripe delivers it; a failure \
                      answers 500, so Stripe delivers the event again.",
        auth: Auth::StripeSignature,
        request: Body::Json(schema_of::<StripeEvent>),
        responses: &[
            ok(200, "Event received", schema_of::<WebhookReceived>),
            error(
                400,
                "Missing or invalid signature, or a body that is not an event",
            ),
            INTERNAL,
        ],
    },
);

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn operation_ids_follow_the_original_client_names() {
        let ids: Vec<String> = ROUTES.iter().map(Route::operation_id).collect();
        for expected in [
            "postAuthLogin",
            "getInstancesById",
            "postInstancesByIdStart",
            "postInstancesValidateTelegramToken",
            "getInstancesByIdProvisioningStatus",
            "getDocsJson",
            "getOpenapiJson",
        ] {
            assert!(ids.iter().any(|id| id == expected), "{expected} missing");
        }
    }

    #[test]
    fn every_route_and_operation_is_unique() {
        let mut seen_routes = HashSet::new();
        let mut seen_ids = HashSet::new();
        for route in ROUTES {
            assert!(
                seen_routes.insert((route.method, route.path)),
                "{} twice",
                route.path
            );
            assert!(
                seen_ids.insert(route.operation_id()),
                "{} twice",
                route.path
            );
        }
    }

    #[test]
    fn authenticated_routes_document_401_and_all_errors_use_the_error_body() {
        for route in ROUTES {
            let statuses: Vec<u16> = route.responses.iter().map(|r| r.status).collect();
            if route.auth == Auth::Bearer {
                assert!(statuses.contains(&401), "{} lacks 401", route.path);
            }
            // A page the browser is sent through answers with a redirect.
            assert!(
                route.responses.iter().any(|r| r.status < 400),
                "{} has no success or redirect response",
                route.path
            );
            for response in route.responses.iter().filter(|r| r.status >= 400) {
                let Body::Json(schema_fn) = response.body else {
                    panic!("{} {} has no JSON body", route.path, response.status);
                };
                assert_eq!(
                    schema_fn as usize, schema_of::<ErrorBody> as SchemaFn as usize,
                    "{} {} is not an ApiError",
                    route.path, response.status
                );
            }
        }
    }

    #[test]
    fn path_parameters_are_read_from_the_path() {
        let route = ROUTES
            .iter()
            .find(|r| r.operation_id() == "postInstancesByIdStart")
            .unwrap();
        assert_eq!(route.path_params().collect::<Vec<_>>(), ["id"]);
    }
}
