-- Why billing stopped an instance, so that paying again (or a higher limit) starts only
-- the instances billing stopped, never those their owner stopped.
alter table instances add column billing_stop text
    check (billing_stop in ('payment_failed', 'canceled', 'plan_limit'));
alter table instances add column billing_stopped_at timestamptz;
alter table instances add constraint instances_billing_stop_with_time
    check ((billing_stop is null) = (billing_stopped_at is null));

-- An account whose subscription is no longer ACTIVE: since when (the grace period and
-- the deletion deadline count from it), and since when the deletion of its instances
-- has been announced.
create table billing_lapses (
    user_id            uuid primary key references users (id) on delete cascade,
    lapsed_at          timestamptz not null,
    deletion_warned_at timestamptz
);
