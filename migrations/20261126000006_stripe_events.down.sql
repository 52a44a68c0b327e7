drop table if exists stripe_webhook_events;
