-- The facade's record of each Instance custom resource it created: who owns it and
-- where it lives in Kubernetes. The Instance itself (spec and status) lives in the
-- Kubernetes API; deleted_at marks one that is gone.
create table instances (
    id            uuid primary key default gen_random_uuid(),
    owner_id      uuid not null references users (id) on delete cascade,
    namespace     text not null check (length(namespace) between 1 and 63),
    name          text not null check (length(name) between 1 and 253),
    display_name  text not null check (length(display_name) between 1 and 50),
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    deleted_at    timestamptz,
    constraint instances_namespace_name_key unique (namespace, name)
);

create index instances_owner_created_idx on instances (owner_id, created_at desc);

create trigger instances_set_updated_at before update on instances
    for each row execute function set_updated_at();
