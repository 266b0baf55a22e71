"""The coordinator: enrolment, round scheduling, state in SQL, the model registry endpoint."""
