"""On PostgreSQL, a score request that becomes final notifies whoever waits for it.

``pg_notify('score_request_<id as 32 hex digits>', status)`` from a trigger, so every path that
finalises a request (the worker, the sweep giving up) signals, with no statement of its own, and
PostgreSQL delivers it only when that transaction commits. The waiting web request listens on the
channel (``scoring/services/waiting.py``, whose ``final_channel`` must name it the same way).

Only an UPDATE of ``status`` or an INSERT can make a row final, and a final row can never be updated
again (``0003_audit_trigger``): the condition on NEW alone fires once per request.
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION scoring_notify_final() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('score_request_' || replace(NEW.id::text, '-', ''), NEW.status);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""
TRIGGER = """
CREATE TRIGGER scoring_scorerequest_notify_final
AFTER INSERT OR UPDATE OF status ON scoring_scorerequest
FOR EACH ROW WHEN (NEW.status IN ('done', 'failed'))
EXECUTE FUNCTION scoring_notify_final();
"""
DROP = """
DROP TRIGGER IF EXISTS scoring_scorerequest_notify_final ON scoring_scorerequest;
DROP FUNCTION IF EXISTS scoring_notify_final();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)
        schema_editor.execute(TRIGGER, params=None)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("scoring", "0006_modelversion_threshold_choice")]
    operations = [migrations.RunPython(create, drop)]
