-- Stripe subscriptions. A user may have several over time; the facade counts the
-- ACTIVE one. The Stripe customer id is a sealed secret, not a column here.
create table subscriptions (
    id                     uuid primary key default gen_random_uuid(),
    user_id                uuid not null references users (id) on delete cascade,
    stripe_subscription_id text not null,
    stripe_price_id        text,
    status                 text not null,
    plan                   text check (plan in ('starter', 'pro', 'enterprise')),
    instance_limit         integer not null default 1 check (instance_limit >= -1),
    current_period_start   timestamptz,
    current_period_end     timestamptz not null,
    cancel_at_period_end   boolean not null default false,
    created_at             timestamptz not null default now(),
    updated_at             timestamptz not null default now(),
    constraint subscriptions_stripe_subscription_id_key unique (stripe_subscription_id)
);

create index subscriptions_user_idx on subscriptions (user_id, created_at desc);

create trigger subscriptions_set_updated_at before update on subscriptions
    for each row execute function set_updated_at();
