drop table google_sign_ins;
drop index users_google_sub_key;
alter table users drop column google_sub;
