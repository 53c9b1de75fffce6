-- Least-privilege roles of filerelay's store on PostgreSQL. Run once, as a superuser:
--
--   psql -v owner_password=... -v worker_password=... -f deploy/postgres/roles.sql
--
-- (docker-compose.yml runs it through deploy/postgres/init-roles.sh on the first start).
--
-- * filerelay_owner owns the database and its schema: `filerelay db upgrade` runs as it.
-- * filerelay_worker reads and writes rows and nothing else: no CREATE, ALTER, DROP or
--   TRUNCATE. Watchers, workers, the reconciler and the alert evaluator run as it, with
--   FILERELAY_DB_AUTO_UPGRADE=false (a schema behind the code stops them with exit 3 and
--   "run `filerelay db upgrade`").
--
-- The names may be changed with -v owner_role=... -v worker_role=... -v dbname=...
\set ON_ERROR_STOP on
\if :{?owner_role}
\else
  \set owner_role filerelay_owner
\endif
\if :{?worker_role}
\else
  \set worker_role filerelay_worker
\endif
\if :{?dbname}
\else
  \set dbname filerelay
\endif

CREATE ROLE :"owner_role" LOGIN PASSWORD :'owner_password';
CREATE ROLE :"worker_role" LOGIN PASSWORD :'worker_password';
CREATE DATABASE :"dbname" OWNER :"owner_role";
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO :"worker_role";

\connect :"dbname"
-- Before PostgreSQL 15 every role could create tables in schema public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
ALTER SCHEMA public OWNER TO :"owner_role";
GRANT USAGE ON SCHEMA public TO :"worker_role";
-- Rows of the tables the owner creates now and in every later migration.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"worker_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
  GRANT USAGE, SELECT ON SEQUENCES TO :"worker_role";
-- Tables that exist already (roles added to a store created before them).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"worker_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"worker_role";
