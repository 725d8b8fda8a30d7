"""The lab: where rot90's claims are measured, above the library they measure.

    check        rot90 check: the drop-ins against torch and the rotation, as a table
    bench        rot90 bench: forward+backward time and memory against sequence length
    gradients    |d loss / d stream| by distance along depth and time, and its decay per step
    controlled   the rotation and carry experiments' tables and figures
    stats        mean and interval over seeds: the one formatter of every table
    catalogue    what `rot90 experiment NAME` runs: groups, questions, runs (data only)
    experiments  rot90 experiment: trains the runs, writes the reports
    demo         rot90 demo: the whole argument in minutes

Nothing in the library imports the lab.
"""
