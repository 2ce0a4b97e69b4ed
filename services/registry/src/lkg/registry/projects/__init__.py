"""The project register (重大产业项目库): projects, their milestones and baselines, investment reports,
statistical enrolment, commitments, termination and de-registration; every change versioned and published
(``project.registered``, ``project.changed`` and the facts beside them). See docs/registry.md."""
