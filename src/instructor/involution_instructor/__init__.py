"""Involution Course, the instructor's side: release, sandboxed autograding, the course run,
benchmarks and the reference answers. Students never install this distribution.

Modules, one job each:

* ``release``       - student notebooks (notebooks/) from the instructor's (solutions/);
* ``grading``       - real nbgrader runs over a scratch course;
* ``autograde``     - a class's submissions graded, reported, fed back and exported;
* ``course_runner`` - ``make course``: every solution notebook, top to bottom;
* ``bench``         - ``make bench``: the scripts in benchmarks/;
* ``solution_code`` - the solution notebooks' code, for tests and benchmarks;
* ``reference``     - the course's own answers to the exercises.
"""
