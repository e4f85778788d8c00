"""On PostgreSQL, the database itself refuses to change or delete a final score request."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION scoring_refuse_final_change() RETURNS trigger AS $$
BEGIN
    IF OLD.status IN ('done', 'failed') THEN
        RAISE EXCEPTION 'score request % is a final audit record and cannot be %', OLD.id, lower(TG_OP)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER scoring_scorerequest_immutable
BEFORE UPDATE OR DELETE ON scoring_scorerequest
FOR EACH ROW EXECUTE FUNCTION scoring_refuse_final_change();
"""
DROP = """
DROP TRIGGER IF EXISTS scoring_scorerequest_immutable ON scoring_scorerequest;
DROP FUNCTION IF EXISTS scoring_refuse_final_change();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(TRIGGER, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("scoring", "0002_score_requests")]
    operations = [migrations.RunPython(create, drop)]
