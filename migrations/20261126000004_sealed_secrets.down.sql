drop table if exists sealed_secrets;
