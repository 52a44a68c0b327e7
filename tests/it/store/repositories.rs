//! The repositories: constraints become domain errors, transactions hold together.

use chrono::{Duration, Utc};
use fasterclaw::db::{NewInstance, StoreError, SubscriptionUpdate};
use fasterclaw::domain::{DisplayName, EmailAddress, TelegramBotToken};
use uuid::Uuid;

use super::{instance, keyring, token, user};
use crate::support::postgres::TestDatabase;

#[tokio::test]
async fn a_duplicate_email_in_any_case_is_a_conflict() {
    let test = TestDatabase::new().await;
    let users = test.db.users();
    let email = EmailAddress::parse("Ada@Example.com").unwrap();
    let ada = users.create(&email, Some("hash"), None).await.unwrap();
    let shouting = EmailAddress::parse("ADA@EXAMPLE.COM").unwrap();
    let err = users.create(&shouting, None, None).await.unwrap_err();
    assert!(matches!(err, StoreError::EmailTaken), "{err}");
    let found = users
        .find_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, ada.id);
    assert_eq!(found.email, "Ada@Example.com", "stored as given");
}

#[tokio::test]
async fn users_change_their_name_and_password_and_debug_hides_the_hash() {
    let test = TestDatabase::new().await;
    let ada = user(&test.db).await;
    let renamed = test.db.users().update_name(ada.id, "Ada L.").await.unwrap();
    assert_eq!(renamed.name.as_deref(), Some("Ada L."));
    assert!(renamed.updated_at >= ada.updated_at);
    let old = ada.password_hash.clone().unwrap();
    assert!(
        test.db
            .users()
            .upgrade_password_hash(ada.id, &old, "$argon2id$new")
            .await
            .unwrap()
    );
    let found = test.db.users().find(ada.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$new"));
    // An upgrade made from a hash that has changed since replaces nothing.
    assert!(
        !test
            .db
            .users()
            .upgrade_password_hash(ada.id, &old, "$argon2id$stale")
            .await
            .unwrap()
    );
    let found = test.db.users().find(ada.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash.as_deref(), Some("$argon2id$new"));
    assert!(!format!("{found:?}").contains("argon2id"));
    let missing = test
        .db
        .users()
        .update_name(Uuid::new_v4(), "x")
        .await
        .unwrap_err();
    assert!(matches!(missing, StoreError::NotFound("user")));
}

#[tokio::test]
async fn deleting_a_user_removes_their_instances_and_secrets() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let ada = user(&test.db).await;
    let (_, secret) = instance(&test.db, &ring, ada.id, &token(1)).await;
    test.db
        .secrets(&ring)
        .set_stripe_customer_id(ada.id, "cus_Abc123")
        .await
        .unwrap();
    assert!(test.db.users().delete(ada.id).await.unwrap());
    let left: i64 = sqlx::query_scalar("select count(*) from sealed_secrets")
        .fetch_one(test.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    let err = test
        .db
        .secrets(&ring)
        .telegram_token(secret)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
}

#[tokio::test]
async fn an_instance_name_taken_is_a_conflict_and_leaves_nothing_behind() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let ada = user(&test.db).await;
    let display = DisplayName::parse("Bot").unwrap();
    let token = TelegramBotToken::parse(token(1)).unwrap();
    let new = |id| NewInstance {
        id,
        owner_id: ada.id,
        namespace: "team-a",
        name: "support",
        display_name: &display,
    };
    test.db
        .instances(&ring)
        .create(new(Uuid::new_v4()), &token)
        .await
        .unwrap();
    let err = test
        .db
        .instances(&ring)
        .create(new(Uuid::new_v4()), &token)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InstanceNameTaken), "{err}");
    let (instances, secrets): (i64, i64) = sqlx::query_as(
        "select (select count(*) from instances), (select count(*) from sealed_secrets)",
    )
    .fetch_one(test.pool())
    .await
    .unwrap();
    assert_eq!((instances, secrets), (1, 1));
}

#[tokio::test]
async fn instances_list_newest_first_without_deleted_ones() {
    let test = TestDatabase::new().await;
    let ring = keyring(1);
    let ada = user(&test.db).await;
    let other = user(&test.db).await;
    let (first, _) = instance(&test.db, &ring, ada.id, &token(1)).await;
    let (second, _) = instance(&test.db, &ring, ada.id, &token(2)).await;
    let (third, _) = instance(&test.db, &ring, ada.id, &token(3)).await;
    instance(&test.db, &ring, other.id, &token(4)).await;
    let instances = test.db.instances(&ring);
    instances.mark_deleted(second.id).await.unwrap();
    let listed: Vec<Uuid> = instances
        .list_for_owner(ada.id)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, [third.id, first.id]);
    assert_eq!(instances.count_active_for_owner(ada.id).await.unwrap(), 2);
    let deleted = instances
        .find_for_owner(second.id, ada.id)
        .await
        .unwrap()
        .unwrap();
    assert!(deleted.deleted_at.is_some());
    assert!(
        instances
            .find_for_owner(first.id, other.id)
            .await
            .unwrap()
            .is_none()
    );
    instances
        .rename(first.id, &DisplayName::parse("Renamed").unwrap())
        .await
        .unwrap();
    let renamed = instances
        .find_for_owner(first.id, ada.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.display_name, "Renamed");
}

#[tokio::test]
async fn creating_an_instance_is_audited_without_its_token() {
    let test = TestDatabase::new().await;
    let ada = user(&test.db).await;
    let (record, _) = instance(&test.db, &keyring(1), ada.id, &token(7)).await;
    let entries = test
        .db
        .audit()
        .for_target(&format!("instance:{}", record.id))
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "instance.create");
    assert_eq!(entries[0].actor, format!("user:{}", ada.id));
    assert!(!entries[0].details.to_string().contains(&token(7)[10..]));
}

fn subscription(id: &str, status: &str) -> SubscriptionUpdate<'static> {
    SubscriptionUpdate {
        stripe_subscription_id: Box::leak(id.to_owned().into_boxed_str()),
        stripe_price_id: Some("price_pro"),
        status: Box::leak(status.to_owned().into_boxed_str()),
        plan: Some("pro"),
        instance_limit: 10,
        current_period_start: Some(Utc::now()),
        current_period_end: Utc::now() + Duration::days(30),
        cancel_at_period_end: false,
    }
}

#[tokio::test]
async fn subscriptions_upsert_by_stripe_id_and_stay_with_their_user() {
    let test = TestDatabase::new().await;
    let ada = user(&test.db).await;
    let other = user(&test.db).await;
    let subs = test.db.subscriptions();
    let created = subs
        .upsert(ada.id, &subscription("sub_1", "INCOMPLETE"))
        .await
        .unwrap();
    assert!(subs.active_for_user(ada.id).await.unwrap().is_none());
    let updated = subs
        .upsert(ada.id, &subscription("sub_1", "ACTIVE"))
        .await
        .unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(
        subs.active_for_user(ada.id).await.unwrap().unwrap().id,
        created.id
    );
    // A second subscription over time is allowed.
    subs.upsert(ada.id, &subscription("sub_2", "CANCELED"))
        .await
        .unwrap();
    let err = subs
        .upsert(other.id, &subscription("sub_1", "ACTIVE"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::SubscriptionTaken), "{err}");
    assert!(subs.set_status("sub_1", "PAST_DUE").await.unwrap());
    assert!(!subs.set_status("sub_missing", "PAST_DUE").await.unwrap());
    assert!(subs.active_for_user(ada.id).await.unwrap().is_none());
}

#[tokio::test]
async fn a_stripe_event_is_recorded_once() {
    let test = TestDatabase::new().await;
    let events = test.db.stripe_events();
    assert!(
        events
            .record_once("evt_1", "checkout.session.completed")
            .await
            .unwrap()
    );
    assert!(
        !events
            .record_once("evt_1", "checkout.session.completed")
            .await
            .unwrap()
    );
    assert!(
        events
            .record_once("evt_2", "invoice.payment_failed")
            .await
            .unwrap()
    );
}
