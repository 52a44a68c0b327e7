//! `fasterclaw import-original`: moves a running FasterClaw over from the original
//! system without re-provisioning a bot. Users keep their ids (so the original's
//! sessions stay valid) and their bcrypt hashes; subscriptions keep their Stripe ids,
//! with plan limits recomputed from the configured prices; every instance that is not
//! deleted gets its record, its sealed token, and an Instance that adopts the Fly.io app
//! and machine the original made. The controller then moves the secrets out of the
//! machine's env. Each row is written in its own transaction under an id derived from
//! the original's, so a second run changes nothing and an interrupted one resumes.

mod decide;
mod orphans;
mod report;
pub mod settings;
mod source;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use kube::api::{Api, ListParams, PostParams};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use self::decide::InstanceFate;
use self::orphans::Orphans;
use self::report::{Line, Outcome, Report};
use self::settings::ImportArgs;
use self::source::{OriginalInstance, OriginalSubscription, OriginalUser, Snapshot, utc};
use crate::billing::catalog::Catalog;
use crate::crd::annotation::IMPORTED_FAILED;
use crate::crd::{
    AccountInstance, Adoption, Instance, InstanceSpec, PowerState, TelegramTokenSource,
    field_manager, record_name,
};
use crate::crypto::KeyError;
use crate::crypto::legacy::LegacyKey;
use crate::db::{
    Database, ImportedInstance, ImportedSubscription, ImportedUser, Imports, InstancePresence,
    MIGRATOR, StoreError, UserPresence,
};
use crate::domain::{AiModel, DisplayName, LegacyKind, Region, imported_id, is_legacy_id};
use crate::fly::{FlyClient, FlyError};
use crate::runtime::models;

/// Why the import stopped. Rows with bad data do not stop it: they are listed in the
/// report and end it with [`ImportError::Incomplete`].
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A required setting is missing.
    #[error("{0} is not set")]
    MissingSetting(&'static str),
    /// A setting is malformed.
    #[error("{0}")]
    Setting(String),
    /// An encryption key is missing or malformed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The FasterClaw database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The FasterClaw database lacks migrations this version needs.
    #[error(
        "the FasterClaw database is not migrated to this version: run `fasterclaw migrate` first"
    )]
    NotMigrated,
    /// The original database could not be read.
    #[error("cannot read the original database: {0}")]
    Source(String),
    /// The Kubernetes API failed.
    #[error("Kubernetes: {0}")]
    Kubernetes(String),
    /// Fly.io refused or failed.
    #[error("Fly.io: {0}")]
    Fly(#[from] FlyError),
    /// Some rows were not imported.
    #[error(
        "{0} row(s) were not imported; each is listed above with the reason, and a second run picks them up once fixed"
    )]
    Incomplete(usize),
}

/// Runs the import.
pub async fn run(args: ImportArgs) -> Result<(), ImportError> {
    // Settings first, so a bad one fails before anything is read.
    let keyring = args.encryption.keyring()?;
    let legacy_key = nonblank(args.legacy_encryption_key.as_ref()).map(LegacyKey::derive);
    let source_url = nonblank(args.source_database_url.as_ref())
        .ok_or(ImportError::MissingSetting("SOURCE_DATABASE_URL"))?;
    let target_url = args
        .database
        .url()
        .ok_or(ImportError::MissingSetting("DATABASE_URL"))?;
    let catalog = args.prices.catalog().map_err(ImportError::Setting)?;
    let fly = match nonblank(args.fly.fly_api_token.as_ref()) {
        Some(_) => Some(FlyClient::new(args.fly.config()?)?),
        None => None,
    };
    let db = Database::connect(target_url).await?;
    ensure_migrated(&db).await?;
    let client = kube::Client::try_default()
        .await
        .map_err(|e| ImportError::Kubernetes(e.to_string()))?;
    let snapshot = source::read(source_url).await?;
    let mut run = Run {
        imports: db.imports(&keyring),
        legacy_key: legacy_key.as_ref(),
        catalog: &catalog,
        api: Api::namespaced(client, &args.instance_namespace),
        namespace: &args.instance_namespace,
        report: Report::new(args.dry_run),
        accounts: HashSet::new(),
        orphans: None,
    };
    run.all(&snapshot, fly.as_ref(), args.delete_orphans)
        .await?;
    println!("{}", run.report);
    match run.report.failures() {
        0 => Ok(()),
        n => Err(ImportError::Incomplete(n)),
    }
}

fn nonblank(value: Option<&SecretString>) -> Option<&SecretString> {
    value.filter(|v| !v.expose_secret().trim().is_empty())
}

/// Fails unless every migration of this build is applied.
async fn ensure_migrated(db: &Database) -> Result<(), ImportError> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or_default();
    let applied: Option<i64> =
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
            .fetch_one(db.pool())
            .await
            .unwrap_or_default();
    if applied.unwrap_or_default() < latest {
        return Err(ImportError::NotMigrated);
    }
    Ok(())
}

/// One run over a snapshot.
struct Run<'a> {
    imports: Imports<'a>,
    legacy_key: Option<&'a LegacyKey>,
    catalog: &'a Catalog,
    api: Api<Instance>,
    namespace: &'a str,
    report: Report,
    /// The original's user ids whose account is here (or would be, in a dry run).
    accounts: HashSet<String>,
    /// The Fly.io apps of the original's naming that nothing records, when Fly.io was
    /// looked at.
    orphans: Option<Orphans>,
}

impl Run<'_> {
    async fn all(
        &mut self,
        snapshot: &Snapshot,
        fly: Option<&FlyClient>,
        delete_orphans: bool,
    ) -> Result<(), ImportError> {
        for user in &snapshot.users {
            self.user(user).await?;
        }
        let customers: HashMap<&str, &str> = snapshot
            .users
            .iter()
            .filter_map(|u| Some((u.id.as_str(), u.stripe_customer_id.as_deref()?)))
            .collect();
        for subscription in &snapshot.subscriptions {
            let customer = customers
                .get(subscription.user_id.as_str())
                .copied()
                .unwrap_or(subscription.stripe_customer_id.as_str());
            self.subscription(subscription, customer).await?;
        }
        match fly {
            Some(fly) => self.orphans = Some(self.find_orphans(snapshot, fly).await?),
            None => println!(
                "apps: FLY_API_TOKEN is not set, so Fly.io apps the original made but never recorded are not looked for"
            ),
        }
        for instance in &snapshot.instances {
            self.instance(instance).await?;
        }
        if let (Some(fly), Some(orphans)) = (fly, self.orphans.take()) {
            self.settle_orphans(fly, &orphans, delete_orphans).await?;
        }
        Ok(())
    }

    /// The apps of the original's naming in the organization that no row of the
    /// original and no Instance here records.
    async fn find_orphans(
        &self,
        snapshot: &Snapshot,
        fly: &FlyClient,
    ) -> Result<Orphans, ImportError> {
        let mut recorded: BTreeSet<String> = snapshot
            .instances
            .iter()
            .filter(|i| !i.status.trim().eq_ignore_ascii_case("DELETED"))
            .filter_map(|i| i.fly_app_name.clone())
            .collect();
        let instances = self
            .api
            .list(&ListParams::default())
            .await
            .map_err(|e| ImportError::Kubernetes(e.to_string()))?;
        for instance in instances {
            recorded.extend(instance.spec.adopt.map(|a| a.app_name));
            recorded.extend(instance.status.and_then(|s| s.fly_app_name));
        }
        let apps = fly.list_apps().await?;
        Ok(Orphans::new(
            apps.iter().map(|a| a.name.as_str()),
            &recorded,
        ))
    }

    /// Reports the apps nothing claimed, and deletes them when asked.
    async fn settle_orphans(
        &mut self,
        fly: &FlyClient,
        orphans: &Orphans,
        delete: bool,
    ) -> Result<(), ImportError> {
        for app in orphans.unclaimed() {
            let outcome = if delete {
                if !self.report.dry_run {
                    fly.delete_app(&app).await?;
                }
                Outcome::Deleted
            } else {
                Outcome::Skipped(
                    "no row of the original records it (left over from a failed provisioning or a deleted account); left in place, --delete-orphans deletes it".to_owned(),
                )
            };
            self.line("app", &app, outcome, None);
        }
        Ok(())
    }

    fn line(
        &mut self,
        kind: &'static str,
        legacy_id: &str,
        outcome: Outcome,
        detail: Option<String>,
    ) {
        self.report.add(Line {
            kind,
            legacy_id: legacy_id.to_owned(),
            outcome,
            detail,
        });
    }

    async fn user(&mut self, user: &OriginalUser) -> Result<(), ImportError> {
        let line = |outcome| (outcome, None);
        let (outcome, detail) = if !is_legacy_id(&user.id) {
            line(Outcome::Failed(
                "its id is not one the original gives (a cuid)".to_owned(),
            ))
        } else {
            let id = imported_id(LegacyKind::User, &user.id);
            let email = user.email.trim();
            match self.imports.user_presence(id, &user.id, email).await? {
                UserPresence::Imported => {
                    self.accounts.insert(user.id.clone());
                    line(Outcome::Unchanged)
                }
                UserPresence::Deleted => line(Outcome::Skipped(
                    "it was imported before and its account has been deleted here since; it stays deleted".to_owned(),
                )),
                UserPresence::EmailTaken => line(Outcome::Failed(
                    "another account here has its email (emails are unique in any letter case); merge or rename one, then run again".to_owned(),
                )),
                UserPresence::Absent if !(3..=254).contains(&email.len()) => {
                    line(Outcome::Failed("its email is not 3 to 254 characters".to_owned()))
                }
                UserPresence::Absent => {
                    let name: Option<String> = user
                        .name
                        .as_deref()
                        .map(|n| n.trim().chars().take(100).collect::<String>())
                        .filter(|n| !n.is_empty());
                    let password_hash = Some(user.password_hash.as_str()).filter(|h| !h.is_empty());
                    if !self.report.dry_run {
                        self.imports
                            .insert_user(ImportedUser {
                                id,
                                legacy_id: &user.id,
                                email,
                                password_hash,
                                name: name.as_deref(),
                                created_at: utc(user.created_at),
                            })
                            .await?;
                    }
                    self.accounts.insert(user.id.clone());
                    (
                        Outcome::Imported,
                        password_hash
                            .is_none()
                            .then(|| "(signs in with Google only)".to_owned()),
                    )
                }
            }
        };
        self.line("user", &user.id, outcome, detail);
        Ok(())
    }

    async fn subscription(
        &mut self,
        subscription: &OriginalSubscription,
        customer: &str,
    ) -> Result<(), ImportError> {
        let s = subscription;
        if !self.accounts.contains(&s.user_id) {
            self.line(
                "subscription",
                &s.id,
                Outcome::Skipped("its account was not imported".to_owned()),
                None,
            );
            return Ok(());
        }
        let user_id = imported_id(LegacyKind::User, &s.user_id);
        let id = imported_id(LegacyKind::Subscription, &s.id);
        if self
            .imports
            .subscription_present(id, &s.stripe_subscription_id)
            .await?
        {
            self.line("subscription", &s.id, Outcome::Unchanged, None);
            return Ok(());
        }
        let terms = decide::terms(
            self.catalog,
            s.stripe_price_id.as_deref(),
            s.plan.as_deref(),
            s.instance_limit,
        );
        let plan = terms.plan.map(|p| p.as_str());
        let mut detail = format!(
            "({}, {}, limit {})",
            s.status.trim().to_ascii_uppercase(),
            plan.unwrap_or("no known plan"),
            terms.instance_limit
        );
        if terms.instance_limit != s.instance_limit {
            detail = format!(
                "{} — limit recomputed from the plan; the original had {})",
                detail.trim_end_matches(')'),
                s.instance_limit
            );
        }
        if !self.report.dry_run {
            let status = s.status.trim().to_ascii_uppercase();
            self.imports
                .insert_subscription(
                    ImportedSubscription {
                        id,
                        legacy_id: &s.id,
                        user_id,
                        update: crate::db::SubscriptionUpdate {
                            stripe_subscription_id: &s.stripe_subscription_id,
                            stripe_price_id: s.stripe_price_id.as_deref(),
                            status: &status,
                            plan,
                            instance_limit: terms.instance_limit,
                            current_period_start: s.current_period_start.map(utc),
                            current_period_end: utc(s.current_period_end),
                            cancel_at_period_end: s.cancel_at_period_end,
                        },
                        created_at: utc(s.created_at),
                    },
                    Some(customer),
                )
                .await?;
        }
        self.line("subscription", &s.id, Outcome::Imported, Some(detail));
        Ok(())
    }

    async fn instance(&mut self, instance: &OriginalInstance) -> Result<(), ImportError> {
        let (outcome, detail) = self.import_instance(instance).await?;
        self.line("instance", &instance.id, outcome, detail);
        Ok(())
    }

    async fn import_instance(
        &mut self,
        original: &OriginalInstance,
    ) -> Result<(Outcome, Option<String>), ImportError> {
        let mut fate = decide::instance_fate(
            &original.status,
            &original.provider,
            original.fly_app_name.as_deref(),
            original.fly_machine_id.as_deref(),
        );
        if let InstanceFate::Skip(why) = fate {
            return Ok((Outcome::Skipped(why), None));
        }
        if !self.accounts.contains(&original.user_id) {
            return Ok((
                Outcome::Failed(format!(
                    "its owner {} was not imported (see that line)",
                    original.user_id
                )),
                None,
            ));
        }
        let owner_id = imported_id(LegacyKind::User, &original.user_id);
        if !is_legacy_id(&original.id) {
            return Ok((
                Outcome::Failed("its id is not one the original gives (a cuid)".to_owned()),
                None,
            ));
        }
        let id = imported_id(LegacyKind::Instance, &original.id);
        let name = record_name(id);
        let stored = match self.imports.instance_presence(id).await? {
            InstancePresence::Absent => None,
            InstancePresence::Imported(secret_id) => Some(secret_id),
            InstancePresence::Deleted => {
                return Ok((
                    Outcome::Skipped(
                        "it was imported before and has been deleted here since; it stays deleted"
                            .to_owned(),
                    ),
                    None,
                ));
            }
            InstancePresence::WithoutToken => {
                return Ok((
                    Outcome::Failed(
                        "its record here has lost its stored token; delete the instance here and run again".to_owned(),
                    ),
                    None,
                ));
            }
        };
        let exists = self
            .api
            .get_opt(&name)
            .await
            .map_err(|e| ImportError::Kubernetes(e.to_string()))?
            .is_some();
        if stored.is_some() && exists {
            return Ok((Outcome::Unchanged, None));
        }
        let mut found = false;
        if let (
            InstanceFate::Failed {
                app: app @ None, ..
            },
            Some(orphans),
        ) = (&mut fate, self.orphans.as_mut())
        {
            *app = orphans.claim(
                &original.user_id,
                utc(original.created_at),
                utc(original.updated_at),
            );
            found = app.is_some();
        }
        let (outcome, mut detail) = describe(&fate);
        if found {
            detail =
                detail.map(|d| format!("{d}, found by its name (the original never recorded it)"));
        }
        let region = match Region::parse(original.region.trim().to_owned()) {
            Ok(region) => region,
            Err(e) => return Ok((Outcome::Failed(format!("its region: {e}")), None)),
        };
        let model = match AiModel::parse(original.ai_model.trim().to_owned()) {
            Ok(model) => model,
            Err(e) => return Ok((Outcome::Failed(format!("its AI model: {e}")), None)),
        };
        let successor = models::successor(&model);
        if successor != model {
            let moved = format!(
                "its model {} is not offered by OpenClaw {}, so it answers with {}",
                model.as_str(),
                crate::runtime::OPENCLAW_VERSION,
                successor.as_str()
            );
            detail = Some(match detail {
                Some(detail) => format!("{detail}; {moved}"),
                None => moved,
            });
        }
        let model = successor;
        let display_name = decide::display_name(&original.name);
        let secret_id = match stored {
            Some(secret_id) => secret_id,
            None => {
                let token =
                    match decide::token(original.telegram_bot_token.as_deref(), self.legacy_key) {
                        Ok(token) => token,
                        Err(why) => return Ok((Outcome::Failed(why), None)),
                    };
                if self.report.dry_run {
                    return Ok((outcome, detail));
                }
                let record = ImportedInstance {
                    id,
                    legacy_id: &original.id,
                    owner_id,
                    namespace: self.namespace,
                    name: &name,
                    display_name: &display_name,
                    created_at: utc(original.created_at),
                };
                match self.imports.insert_instance(record, &token).await {
                    Ok(secret_id) => secret_id,
                    Err(StoreError::InstanceNameTaken) => {
                        return Ok((
                            Outcome::Failed(format!(
                                "another record here is named {}/{name}",
                                self.namespace
                            )),
                            None,
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if self.report.dry_run {
            return Ok((outcome, detail));
        }
        if !exists {
            let object = resource(ResourceInput {
                namespace: self.namespace,
                id,
                owner_id,
                legacy_id: &original.id,
                display_name: display_name.clone(),
                region,
                model,
                secret_id,
                fate: &fate,
            });
            let params = PostParams {
                field_manager: Some(field_manager::IMPORT.to_owned()),
                ..PostParams::default()
            };
            match self.api.create(&params, &object).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(kube::Error::Api(e)) if e.code == 422 || e.code == 400 => {
                    return Ok((
                        Outcome::Failed(format!("its Instance was refused: {}", e.message)),
                        None,
                    ));
                }
                Err(e) => return Err(ImportError::Kubernetes(e.to_string())),
            }
        }
        Ok((outcome, detail))
    }
}

/// The report's outcome and detail for an instance's fate.
fn describe(fate: &InstanceFate) -> (Outcome, Option<String>) {
    match fate {
        InstanceFate::Adopt {
            power,
            app,
            machine,
        } => (
            Outcome::Adopted,
            Some(format!(
                "Fly.io app {app} and machine {machine} ({}); the controller moves the machine onto OpenClaw {} with its configuration (one restart)",
                match power {
                    PowerState::Running => "running",
                    PowerState::Stopped => "stopped",
                },
                crate::runtime::OPENCLAW_VERSION
            )),
        ),
        InstanceFate::Failed { message, app, .. } => (
            Outcome::Imported,
            Some(match app {
                Some(app) => format!("as FAILED ({message}), holding its Fly.io app {app}"),
                None => {
                    format!("as FAILED ({message}); the original recorded no Fly.io app for it")
                }
            }),
        ),
        InstanceFate::Skip(why) => (Outcome::Skipped(why.clone()), None),
    }
}

/// What an imported Instance is made from.
struct ResourceInput<'a> {
    namespace: &'a str,
    id: Uuid,
    owner_id: Uuid,
    legacy_id: &'a str,
    display_name: DisplayName,
    region: Region,
    model: AiModel,
    secret_id: Uuid,
    fate: &'a InstanceFate,
}

/// The Instance of an imported instance: labelled as the facade labels its own, with
/// the token by its sealed id and the Fly.io resources to adopt.
fn resource(input: ResourceInput<'_>) -> Instance {
    let mut annotations = BTreeMap::new();
    let (power, app, machine) = match input.fate {
        InstanceFate::Adopt {
            power,
            app,
            machine,
        } => (*power, Some(app.clone()), Some(machine.clone())),
        InstanceFate::Failed {
            message,
            app,
            machine,
        } => {
            annotations.insert(IMPORTED_FAILED.to_owned(), message.clone());
            (PowerState::Running, app.clone(), machine.clone())
        }
        InstanceFate::Skip(_) => (PowerState::Running, None, None),
    };
    AccountInstance {
        record: input.id,
        namespace: input.namespace,
        owner: input.owner_id,
        imported_from: Some(input.legacy_id),
        annotations,
        spec: InstanceSpec {
            display_name: input.display_name,
            owner_id: input.owner_id.to_string(),
            region: input.region,
            ai_model: input.model,
            ai_provider: None,
            telegram_user_ids: Vec::new(),
            fallback_regions: Vec::new(),
            storage_gb: None,
            power_state: power,
            machine: None,
            telegram_token: TelegramTokenSource {
                stored_secret_id: Some(input.secret_id),
                secret_key_ref: None,
            },
            deletion_policy: Default::default(),
            image: None,
            adopt: app.map(|app_name| Adoption {
                app_name,
                machine_id: machine,
            }),
        },
    }
    .build()
}
