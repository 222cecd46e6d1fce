{%- set role_name = cookiecutter.role_arn.split("/")[-1] -%}
{%- set account = cookiecutter.role_arn.split(":")[3] if cookiecutter.role_arn.count(":") >= 4 else "" -%}
{%- set user = "`RAM$" ~ account ~ ":role/" ~ role_name ~ "`" -%}
{%- set project_role = cookiecutter.service ~ "_reader" -%}
-- MaxCompute decides itself who may do what in project {{ cookiecutter.odps_project }}: RAM lets the role
-- {{ role_name }} call MaxCompute, these statements make it a user of the project with the privileges the
-- service's handlers use. Run them once, as the project owner:
--   odpscmd --project={{ cookiecutter.odps_project }} -f ram/maxcompute-project.sql
-- docs/ram-role.md ("MaxCompute project authorization") explains them and the other ways to run them.
-- Locally, `make dev` applies this file to the local MaxCompute at every start.

-- The RAM role becomes a user of the project (the backticks are required).
add user {{ user }};

-- A project role with what the handlers do: list the tables{% if cookiecutter.maxcompute_sql %}, run the SELECT of POST /maxcompute/sql{% endif %},
-- read the schema and rows of any table (a grant on every table is a policy grant, which only roles take).
create role {{ project_role }};
grant List{% if cookiecutter.maxcompute_sql %}, CreateInstance{% endif %} on project {{ cookiecutter.odps_project }} to role {{ project_role }};
grant Describe, Select on table * to role {{ project_role }} privilegeproperties("policy" = "true", "allow" = "true");
grant {{ project_role }} to {{ user }};
