-- Stripe webhook events already processed, so a redelivered event is acknowledged
-- without being applied twice.
create table stripe_webhook_events (
    event_id     text primary key,
    event_type   text not null,
    processed_at timestamptz not null default now()
);
