"""``python -m connector backfill``: copy a Prometheus' history into the table through remote read.

The source's answer for each time window is read (``source``), translated and written exactly as
remote write would store it (``connector.timestream``), and the window is then recorded in a
checkpoint (``checkpoint``), so a rerun resumes where the last one stopped. ``cli`` wires the
command line; ``run`` is the loop over the windows.
"""
