-- Google sign-in. An account signed in with Google keeps Google's id of the person
-- (`sub`), so that a later sign-in finds it even if the address changes at Google, and
-- no other Google account can take it over through the same address.
alter table users add column google_sub text
    check (google_sub is null or length(google_sub) between 1 and 255);
create unique index users_google_sub_key on users (google_sub);

-- Sign-ins with Google under way: the browser that started one holds its `state` in a
-- cookie; the PKCE verifier and the nonce stay here, keyed by the state's SHA-256, and
-- are taken out (deleted) by the one callback that finishes the sign-in.
create table google_sign_ins (
    state_sha256  bytea primary key check (length(state_sha256) = 32),
    pkce_verifier text not null check (length(pkce_verifier) between 43 and 128),
    nonce         text not null check (length(nonce) between 1 and 255),
    created_at    timestamptz not null default now()
);
create index google_sign_ins_created_at on google_sign_ins (created_at);
