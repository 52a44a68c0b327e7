-- When an account was imported from the original system: the original's sessions
-- (signed with its secret, without our issuer) are accepted only for imported accounts
-- and only when issued before this moment. Accounts imported before the column existed
-- take the time of their import's audit line.
alter table users add column imported_at timestamptz;
update users u set imported_at = coalesce(
    (select min(a.created_at) from audit_log a
      where a.action = 'user.import' and a.target = 'user:' || u.id::text),
    now())
where u.legacy_id is not null;
alter table users add constraint users_imported_at_with_legacy_id
    check (imported_at is null or legacy_id is not null);

-- The original's ids of imported accounts that were deleted here since: a later import
-- must not bring them back.
create table account_tombstones (
    legacy_id  text primary key check (length(legacy_id) between 1 and 64),
    deleted_at timestamptz not null default now()
);

-- Moves on every time billing records a subscription of the account, so that a Stripe
-- event applies what Stripe said only if nothing was recorded since it asked.
alter table users add column billing_revision bigint not null default 0;
