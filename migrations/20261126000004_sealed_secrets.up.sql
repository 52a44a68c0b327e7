-- Secrets at rest, each sealed with AES-256-GCM
-- (0xFC 0x01 | key id | nonce | ciphertext | tag) and bound to its row id and kind.
-- No other column holds a secret. Values imported from the original system land here as
-- their UTF-8 bytes until `fasterclaw secrets encrypt-legacy` seals them.
--   telegram_bot_token: one per instance; an Instance's spec refers to it by id.
--   stripe_customer_id: one per user.
create table sealed_secrets (
    id           uuid primary key default gen_random_uuid(),
    kind         text not null check (kind in ('telegram_bot_token', 'stripe_customer_id')),
    owner_id     uuid not null references users (id) on delete cascade,
    instance_id  uuid references instances (id) on delete cascade,
    sealed       bytea not null check (octet_length(sealed) > 0),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    constraint sealed_secrets_instance_matches_kind
        check ((kind = 'telegram_bot_token') = (instance_id is not null)),
    constraint sealed_secrets_instance_key unique (instance_id)
);

create unique index sealed_secrets_stripe_customer_key
    on sealed_secrets (owner_id) where kind = 'stripe_customer_id';

create trigger sealed_secrets_set_updated_at before update on sealed_secrets
    for each row execute function set_updated_at();
