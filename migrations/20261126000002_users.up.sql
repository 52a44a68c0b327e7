-- Accounts. Emails are unique regardless of letter case; a null password hash marks an
-- account that signs in with Google only.
create table users (
    id            uuid primary key default gen_random_uuid(),
    email         text not null check (length(email) between 3 and 254),
    password_hash text,
    name          text check (name is null or length(name) between 1 and 100),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now()
);

create unique index users_email_lower_key on users (lower(email));

create trigger users_set_updated_at before update on users
    for each row execute function set_updated_at();
