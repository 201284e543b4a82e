"""The instructor's reference answers: the course's own, known-right versions of what the
exercises ask students to write. Tests, benchmarks and the course run use them; the student
distribution never holds them, so no submission can import an answer."""
