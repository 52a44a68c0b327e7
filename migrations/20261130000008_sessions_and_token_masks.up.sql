-- Sessions end when a password changes: every token carries the account's token
-- version, and a change of password moves it on. Instance records keep the masked
-- form of their token (first 10 characters, "...", last 4), which is all a response
-- shows, so that reads never open the sealed token.
alter table users add column token_version integer not null default 0;
alter table instances add column token_mask text check (token_mask is null or length(token_mask) <= 20);
