-- Rows imported from the original system (`fasterclaw import-original`) keep its ids
-- (cuids): the sessions it issued name the account by it, old links name the
-- instance by it, and a second import finds what the first one wrote.
alter table users add column legacy_id text
    check (legacy_id is null or length(legacy_id) between 1 and 64);
create unique index users_legacy_id_key on users (legacy_id);

alter table instances add column legacy_id text
    check (legacy_id is null or length(legacy_id) between 1 and 64);
create unique index instances_legacy_id_key on instances (legacy_id);

alter table subscriptions add column legacy_id text
    check (legacy_id is null or length(legacy_id) between 1 and 64);
create unique index subscriptions_legacy_id_key on subscriptions (legacy_id);
