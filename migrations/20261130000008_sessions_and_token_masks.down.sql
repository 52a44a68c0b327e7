alter table instances drop column if exists token_mask;
alter table users drop column if exists token_version;
