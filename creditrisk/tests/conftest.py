# The session's small trained model, registered and active (fixtures shared with the scoring tests).
from scoring.tests.conftest import active_version, drift_version, trained  # noqa: F401
