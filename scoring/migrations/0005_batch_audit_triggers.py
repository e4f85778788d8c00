"""On PostgreSQL, the database itself refuses to change or delete batch audit records.

A batch result and a row error are written once, with their chunk; a finished chunk (a link of the
audit chain) is never changed again either.
"""

from django.db import migrations

REFUSE = """
CREATE OR REPLACE FUNCTION scoring_refuse_batch_record_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% row % is a batch audit record and cannot be %', TG_TABLE_NAME, OLD.id, lower(TG_OP)
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""
REFUSE_DONE_CHUNK = """
CREATE OR REPLACE FUNCTION scoring_refuse_done_chunk_change() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'done' THEN
        RAISE EXCEPTION 'batch chunk % is a batch audit record and cannot be %', OLD.id, lower(TG_OP)
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
TRIGGERS = {
    "scoring_batchresult": "scoring_refuse_batch_record_change",
    "scoring_batchrowerror": "scoring_refuse_batch_record_change",
    "scoring_batchchunk": "scoring_refuse_done_chunk_change",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(REFUSE, params=None)
    schema_editor.execute(REFUSE_DONE_CHUNK, params=None)
    for table, function in TRIGGERS.items():
        schema_editor.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}();",
            params=None,
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table};", params=None)
    for function in set(TRIGGERS.values()):
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {function}();", params=None)


class Migration(migrations.Migration):
    dependencies = [("scoring", "0004_batch_jobs")]
    operations = [migrations.RunPython(create, drop)]
